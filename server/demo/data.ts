import type { Random } from './random';

/** Demo centers in Seoul with their map origin. */
export const DEMO_CENTERS = [
  { code: 'gangnam', name: 'Gangnam Center', lat: 37.4979, lng: 127.0276 },
  { code: 'mapo', name: 'Mapo Center', lat: 37.5566, lng: 126.9236 },
  { code: 'songpa', name: 'Songpa Center', lat: 37.5145, lng: 127.1059 },
] as const;

export const DEMO_ACCOUNTS = [
  { email: 'dispatcher@demo.local', name: 'Demo Dispatcher', role: 'dispatcher' },
  { email: 'hq@demo.local', name: 'Demo HQ', role: 'hq' },
  { email: 'rider@demo.local', name: 'Demo Rider', role: 'rider' },
  { email: 'callcenter@demo.local', name: 'Demo Call Center', role: 'callcenter' },
  { email: 'admin@demo.local', name: 'Demo Admin', role: 'admin' },
] as const;

/** Every demo center has these shops; the first shop of the first center gets the demo device. */
export const DEMO_SHOPS = [
  'Kimbap Heaven', 'Hongdae Fried Chicken', 'Seoul Tteokbokki', 'Bibim House', 'Jjajang Palace',
  'Pho Saigon', 'Burger Lab', 'Pizza Alley', 'Sushi Go', 'Dakgalbi Corner', 'Mandu King',
  'Bean Brothers Coffee', 'Green Salad Bar', 'Taco Seoul', 'Noodle Road',
];
const STREETS = ['Teheran-ro', 'Gangnam-daero', 'Dosan-daero', 'Yanghwa-ro', 'World Cup-ro', 'Olympic-ro', 'Songpa-daero', 'Baekjegobun-ro', 'Seolleung-ro', 'Hapjeong-ro'];
const NAMES = ['Kim', 'Lee', 'Park', 'Choi', 'Jung', 'Kang', 'Cho', 'Yoon', 'Jang', 'Lim', 'Han', 'Oh', 'Seo', 'Shin', 'Kwon'];
const GIVEN = ['Minjun', 'Seoyeon', 'Doyun', 'Jiwoo', 'Hayun', 'Siwoo', 'Jiho', 'Yuna', 'Eunwoo', 'Sua', 'Juwon', 'Harin'];
const ITEMS = ['Fried chicken x1', 'Tteokbokki x2', 'Bibimbap x1, Mandu x1', 'Jjajangmyeon x2', 'Pho x1', 'Burger set x2', 'Pizza L x1', 'Sushi set x1', 'Coffee x3', 'Salad x1'];

export function personName(rng: Random): string {
  return `${rng.pick(NAMES)} ${rng.pick(GIVEN)}`;
}

export interface FakeOrder {
  shopName: string;
  shopAddress: string;
  customerName: string;
  customerPhone: string;
  customerAddress: string;
  items: string;
  totalWon: number;
  lat: number;
  lng: number;
}

export function fakeOrder(rng: Random, center: { lat: number; lng: number }): FakeOrder {
  return {
    shopName: rng.pick(DEMO_SHOPS),
    shopAddress: `${rng.int(1, 400)} ${rng.pick(STREETS)}`,
    customerName: personName(rng),
    customerPhone: `010-${rng.int(1000, 9999)}-${rng.int(1000, 9999)}`,
    customerAddress: `${rng.int(1, 999)} ${rng.pick(STREETS)}, apt ${rng.int(101, 1504)}`,
    items: rng.pick(ITEMS),
    totalWon: rng.int(8, 60) * 1000,
    lat: center.lat + (rng.next() - 0.5) * 0.04,
    lng: center.lng + (rng.next() - 0.5) * 0.05,
  };
}

/** The demo's order-receipt device (embedded broker quick start): its password is DEMO_PASSWORD. */
export const DEMO_DEVICE = { username: 'device-1', name: 'Demo counter tablet' } as const;

let orderCounter = 0;
/** Order numbers unique across restarts and processes: date, time in base 36, a counter. */
export function newOrderNo(now: Date, rng: Random): string {
  orderCounter = (orderCounter + 1) % 1296;
  const d = now.toISOString().slice(2, 10).replaceAll('-', '');
  return `D${d}-${now.getTime().toString(36).toUpperCase()}${orderCounter.toString(36).padStart(2, '0').toUpperCase()}${rng.int(0, 35).toString(36).toUpperCase()}`;
}
