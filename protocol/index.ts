export * from './auth';
export * from './chat';
export * from './deliveries';
export * from './errors';
export * from './events';
export * from './merge';
export * from './orders';
