import { describe, expect, it } from 'vitest';
import { safeNextPath } from '../../app/lib/safe-next';

const ORIGIN = 'https://dispatch.example.com';

describe('login next redirect', () => {
  it('follows paths of this site', () => {
    expect(safeNextPath('/rider', ORIGIN)).toBe('/rider');
    expect(safeNextPath('/?center=2#x', ORIGIN)).toBe('/?center=2#x');
    expect(safeNextPath('/callcenter?q=%2F%2Fx', ORIGIN)).toBe('/callcenter?q=%2F%2Fx');
  });

  it('refuses every way out of the site, including /\\evil.example (open redirect)', () => {
    for (const next of ['//evil.example', '/\\evil.example', '/\\\\evil.example', '/\t/evil.example', '/\n/evil.example', 'https://evil.example', 'javascript:alert(1)', '', null]) {
      expect(safeNextPath(next, ORIGIN), String(next)).toBeNull();
    }
  });
});
