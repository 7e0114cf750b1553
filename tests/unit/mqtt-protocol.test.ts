import { describe, expect, it } from 'vitest';
import {
  isAwaitingShopAck,
  isNewerShopOrder,
  mqttTopics,
  parseMqttTopic,
  shopOrderMessageSchema,
  toShopOrderMessage,
  type DeliveryRow,
} from '../../protocol';
import { deviceMayPublish, deviceMayReadShop, deviceMaySubscribe } from '../../server/auth/policy';

const row: DeliveryRow = {
  deliverySeq: 7,
  centerId: 1,
  orderNo: 'D261201-ABC',
  shopName: 'Kimbap Heaven',
  shopAddress: '1 Test-ro',
  address: '2 Test-ro',
  lat: 37.5,
  lng: 127,
  riderId: null,
  riderName: null,
  status: 'waiting',
  createdAt: '2026-12-01T04:00:00.000Z',
  assignedAt: null,
  pickedUpAt: null,
  deliveredAt: null,
  cancelledAt: null,
  modDate: '2026-12-01T04:00:00.000Z',
  version: 1,
  txid: 1000,
  shopId: 3,
  shopReceivedAt: null,
  shopAckDueAt: '2026-12-01T04:01:00.000Z',
};

describe('MQTT topics and messages (protocol/mqtt.ts)', () => {
  it('builds and parses topics under the versioned root', () => {
    expect(mqttTopics.shopOrder(3, 'D261201-ABC')).toBe('dd/v1/shops/3/orders/D261201-ABC');
    expect(parseMqttTopic('dd/v1/shops/3/orders/D261201-ABC')).toEqual({ kind: 'order', shopId: 3, orderNo: 'D261201-ABC' });
    expect(parseMqttTopic('dd/v1/shops/3/devices/device-1/ack')).toEqual({ kind: 'ack', shopId: 3, username: 'device-1' });
    expect(parseMqttTopic('dd/v1/shops/3/devices/device-1/status')).toEqual({ kind: 'status', shopId: 3, username: 'device-1' });
    for (const bad of ['dd/v2/shops/3/orders/X', 'dd/v1/shops/0/orders/X', 'dd/v1/shops/3/orders/+', 'dd/v1/shops/3/devices/device-1/other', '#']) {
      expect(parseMqttTopic(bad), bad).toBeNull();
    }
  });

  it('turns a committed row into the shop message, and skips rows without a shop', () => {
    const msg = toShopOrderMessage(row)!;
    expect(shopOrderMessageSchema.parse(msg)).toEqual({
      v: 1, event: 'order.created', shopId: 3, orderNo: 'D261201-ABC', deliverySeq: 7, status: 'waiting', receivedAt: null, modDate: row.modDate, version: 1,
    });
    expect(toShopOrderMessage({ ...row, status: 'cancelled', version: 2 })?.event).toBe('order.cancelled');
    expect(toShopOrderMessage({ ...row, status: 'assigned', version: 2 })?.event).toBe('order.status');
    expect(toShopOrderMessage({ ...row, shopId: null })).toBeNull();
  });

  it('lets devices merge with the shared rule: stale and repeated messages lose', () => {
    const v1 = toShopOrderMessage(row)!;
    const v2 = toShopOrderMessage({ ...row, status: 'assigned', version: 2, modDate: '2026-12-01T04:00:05.000Z' })!;
    expect(isNewerShopOrder(v2, v1)).toBe(true);
    expect(isNewerShopOrder(v1, v2)).toBe(false);
    expect(isNewerShopOrder(v2, v2)).toBe(false);
    expect(isNewerShopOrder(v1, undefined)).toBe(true);
  });

  it('flags an order the shop has not acknowledged in time', () => {
    const due = Date.parse(row.shopAckDueAt!);
    expect(isAwaitingShopAck(row, due - 1)).toBe(false);
    expect(isAwaitingShopAck(row, due + 1)).toBe(true);
    expect(isAwaitingShopAck({ ...row, shopReceivedAt: '2026-12-01T04:00:10.000Z' }, due + 1)).toBe(false);
    expect(isAwaitingShopAck({ ...row, status: 'delivered' }, due + 1)).toBe(false);
    expect(isAwaitingShopAck({ ...row, shopAckDueAt: null }, due + 1)).toBe(false);
  });
});

describe('device rules (server/auth/policy.ts)', () => {
  const d = { deviceId: 1, shopId: 3, username: 'device-1' };
  it('reads only its own shop orders', () => {
    expect(deviceMaySubscribe(d, 'dd/v1/shops/3/orders/+')).toBe(true);
    expect(deviceMaySubscribe(d, 'dd/v1/shops/3/orders/#')).toBe(true);
    expect(deviceMaySubscribe(d, 'dd/v1/shops/3/orders/D1')).toBe(true);
    for (const f of ['dd/v1/shops/4/orders/+', 'dd/v1/shops/3/#', 'dd/v1/#', '#', '$SYS/#', 'dd/v1/shops/3/devices/device-1/ack', 'dd/v1/shops/+/orders/+']) {
      expect(deviceMaySubscribe(d, f), f).toBe(false);
    }
    expect(deviceMayReadShop(d, 3)).toBe(true);
    expect(deviceMayReadShop(d, 4)).toBe(false);
  });
  it('writes only its own status and ack topics', () => {
    expect(deviceMayPublish(d, 'dd/v1/shops/3/devices/device-1/status')).toBe(true);
    expect(deviceMayPublish(d, 'dd/v1/shops/3/devices/device-1/ack')).toBe(true);
    for (const t of ['dd/v1/shops/3/devices/device-2/ack', 'dd/v1/shops/4/devices/device-1/ack', 'dd/v1/shops/3/orders/D1', 'dd/v1/shops/3/devices/+/ack']) {
      expect(deviceMayPublish(d, t), t).toBe(false);
    }
  });
});
