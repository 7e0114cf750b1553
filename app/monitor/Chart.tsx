'use client';
import { useEffect, useRef } from 'react';
import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be185d', '#4d7c0f'];

/**
 * A small time-series chart (uPlot: canvas, ~50 KB, draws thousands of points in a few ms).
 * The plot is built once per set of series and then only fed new data.
 */
export function Chart({ title, labels, data, unit, testId }: { title: string; labels: string[]; data: uPlot.AlignedData; unit: string; testId: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  const key = labels.join('|');

  useEffect(() => {
    latest.current = data;
    plot.current?.setData(data);
  }, [data]);

  useEffect(() => {
    let alive = true;
    let made: uPlot | null = null;
    void import('uplot').then(({ default: UPlot }) => {
      if (!alive || !box.current) return;
      made = new UPlot(
        {
          width: box.current.clientWidth || 320,
          height: 140,
          legend: { show: true },
          cursor: { show: true },
          scales: { x: { time: true } },
          axes: [{ size: 28 }, { size: 44, values: (_u, vals) => vals.map((v) => `${v}${unit}`) }],
          series: [{}, ...key.split('|').filter(Boolean).map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false }))],
        },
        latest.current,
        box.current,
      );
      plot.current = made;
    });
    return () => {
      alive = false;
      made?.destroy();
      plot.current = null;
    };
  }, [key, unit]);

  return (
    <figure className="mon-chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}
