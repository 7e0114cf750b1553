export * from './deliveries';
export * from './errors';
export * from './events';
export * from './merge';
