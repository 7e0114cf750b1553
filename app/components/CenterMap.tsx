'use client';
import { memo } from 'react';
import type { DeliveryRow, RiderPresence, RiderRow } from '@/protocol';

interface Point {
  lat: number;
  lng: number;
}

const W = 360;
const H = 260;

/**
 * A plain SVG map of the center (no external tiles): active deliveries as small dots by status,
 * riders as circles, the selected delivery ringed. Bounds fit what is shown.
 */
export const CenterMap = memo(function CenterMap({
  deliveries,
  riders,
  positionOf,
  selectedSeq,
  presenceOf,
}: {
  deliveries: readonly DeliveryRow[];
  riders: RiderRow[];
  positionOf: (r: RiderRow) => Point | null;
  selectedSeq: number | null;
  /** Online / silent / offline per rider: offline riders are faded, silent ones ringed. */
  presenceOf?: (riderId: number) => RiderPresence;
}) {
  const riderPoints = riders.map((r) => ({ r, p: positionOf(r) })).filter((x): x is { r: RiderRow; p: Point } => x.p !== null);
  const pts: Point[] = [...deliveries, ...riderPoints.map((x) => x.p)];
  if (pts.length === 0) return <p className="muted">No positions yet.</p>;
  let minLat = Infinity, maxLat = -Infinity, minLng = Infinity, maxLng = -Infinity;
  for (const p of pts) {
    minLat = Math.min(minLat, p.lat);
    maxLat = Math.max(maxLat, p.lat);
    minLng = Math.min(minLng, p.lng);
    maxLng = Math.max(maxLng, p.lng);
  }
  const padLat = (maxLat - minLat || 0.01) * 0.08;
  const padLng = (maxLng - minLng || 0.01) * 0.08;
  const x = (lng: number) => ((lng - minLng + padLng) / (maxLng - minLng + 2 * padLng)) * W;
  const y = (lat: number) => H - ((lat - minLat + padLat) / (maxLat - minLat + 2 * padLat)) * H;
  return (
    <svg className="center-map" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Map: ${riderPoints.length} riders, ${deliveries.length} active deliveries`} data-testid="center-map">
      <rect width={W} height={H} fill="#eef2f7" />
      {deliveries.map((d) => (
        <circle key={`d${d.deliverySeq}`} cx={x(d.lng)} cy={y(d.lat)} r={d.deliverySeq === selectedSeq ? 5 : 2.5} className={`map-delivery status-${d.status}`}>
          <title>
            #{d.deliverySeq} {d.shopName} → {d.address}
          </title>
        </circle>
      ))}
      {deliveries
        .filter((d) => d.deliverySeq === selectedSeq)
        .map((d) => (
          <circle key="sel" cx={x(d.lng)} cy={y(d.lat)} r={10} className="map-selected" />
        ))}
      {riderPoints.map(({ r, p }) => {
        const presence = presenceOf?.(r.id);
        return (
          <g key={`r${r.id}`} transform={`translate(${x(p.lng)},${y(p.lat)})`} data-testid={`map-rider-${r.id}`} data-presence={presence} className={presence ? `map-presence-${presence}` : undefined}>
            <circle r={6} className={`map-rider rider-${r.status}`} />
            {presence === 'silent' && <circle r={9} className="map-silent-ring" />}
            <title>
              {r.name} ({r.status}
              {presence ? `, ${presence}` : ''})
            </title>
          </g>
        );
      })}
    </svg>
  );
});
