'use client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { request, type DispatchSocket } from '../lib/socket';
import { shouldSendPosition, type LatLng, type SentFix } from './location-throttle';

const PREF_KEY = 'dd.rider.shareLocation';
/** How often a held position is looked at again (the throttle decides whether it goes out). */
const CHECK_EVERY_MS = 5_000;

const FINDING = 'Finding your position…';

function readPref(): boolean {
  try {
    return window.localStorage.getItem(PREF_KEY) === 'on';
  } catch {
    return false;
  }
}
function writePref(on: boolean) {
  try {
    if (on) window.localStorage.setItem(PREF_KEY, 'on');
    else window.localStorage.removeItem(PREF_KEY);
  } catch {
    // not kept: sharing just starts off next time
  }
}

const DENIED =
  'Location access is blocked for this site. Allow location in your browser’s site settings, then turn sharing on again.';

/**
 * Location sharing: a toggle; while on, the browser's position goes out as `rider:position`,
 * throttled (at most every 10 s; only after moving ~20 m or a minute of silence).
 */
export function LocationShare({ socket, live }: { socket: DispatchSocket | null; live: boolean }) {
  // Rendered in the browser only (after sign-in), so the stored choice seeds the first render.
  const canLocate = typeof navigator !== 'undefined' && 'geolocation' in navigator;
  const [on, setOn] = useState(() => canLocate && readPref());
  const [lastSent, setLastSent] = useState<SentFix | null>(null);
  const [status, setStatus] = useState<string | null>(() => (on ? FINDING : null));
  const [error, setError] = useState<string | null>(null);
  const latest = useRef<LatLng | null>(null);
  const lastRef = useRef<SentFix | null>(null);
  const sending = useRef(false);

  // The rider's choice survives reloads: they share all shift.
  const toggle = useCallback(() => {
    const next = !on;
    if (next && !canLocate) {
      setError('This browser cannot share a location.');
      return;
    }
    writePref(next);
    setOn(next);
    setStatus(next ? FINDING : null);
    setError(null);
  }, [on, canLocate]);

  const trySend = useCallback(() => {
    const pos = latest.current;
    if (!pos || !socket?.connected || sending.current) return;
    const now = Date.now();
    if (!shouldSendPosition(lastRef.current, pos, now)) return;
    sending.current = true;
    const previous = lastRef.current;
    lastRef.current = { ...pos, at: now };
    request(socket, 'rider:position', { lat: pos.lat, lng: pos.lng }, 10_000)
      .then(() => {
        setLastSent({ ...pos, at: now });
        setError(null);
      })
      .catch((err: unknown) => {
        lastRef.current = previous; // not sent: the next fix may go at once
        setError(`Position not sent: ${(err as Error).message}`);
      })
      .finally(() => {
        sending.current = false;
      });
  }, [socket]);

  useEffect(() => {
    if (!on || !canLocate) return;
    const watch = navigator.geolocation.watchPosition(
      (p) => {
        latest.current = { lat: p.coords.latitude, lng: p.coords.longitude };
        setStatus(null);
        setError(null);
        trySend();
      },
      (err) => {
        if (err.code === err.PERMISSION_DENIED) {
          setError(DENIED);
          setOn(false);
          writePref(false);
        } else if (err.code === err.TIMEOUT) {
          setStatus('Still waiting for a GPS fix…');
        } else {
          setError(`Your position is unavailable right now (${err.message || 'no signal'}). Sharing stays on and retries.`);
        }
      },
      { enableHighAccuracy: true, maximumAge: 5_000, timeout: 30_000 },
    );
    const timer = setInterval(trySend, CHECK_EVERY_MS);
    return () => {
      navigator.geolocation.clearWatch(watch);
      clearInterval(timer);
    };
  }, [on, canLocate, trySend]);

  // Back online: send the held position without waiting for the next fix.
  useEffect(() => {
    if (live && on) trySend();
  }, [live, on, trySend]);

  return (
    <section className="rider-location" aria-labelledby="rider-location-title">
      <div className="rider-location-row">
        <div>
          <h2 id="rider-location-title" className="rider-location-title">
            Share my location
          </h2>
          <p className="rider-location-sub" data-testid="location-last-sent" data-sent={lastSent ? 'yes' : 'no'}>
            {on
              ? lastSent
                ? `Last sent ${new Date(lastSent.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`
                : (status ?? (live ? 'Not sent yet' : 'Will send when back online'))
              : 'Off: the center cannot see where you are'}
          </p>
        </div>
        <button
          type="button"
          role="switch"
          aria-checked={on}
          aria-labelledby="rider-location-title"
          className={`rider-switch${on ? ' rider-switch-on' : ''}`}
          data-testid="location-toggle"
          data-state={on ? 'on' : 'off'}
          onClick={toggle}
        >
          <span className="rider-switch-knob" aria-hidden />
          <span className="rider-switch-text">{on ? 'On' : 'Off'}</span>
        </button>
      </div>
      {error && (
        <p className="rider-location-error" role="alert" data-testid="location-error">
          {error}
        </p>
      )}
    </section>
  );
}
