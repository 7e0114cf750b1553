/**
 * What the server needs from an MQTT broker, embedded (aedes in this process) or external
 * (Mosquitto, EMQX, HiveMQ... through the `mqtt` client): publish, and hear device topics.
 */
export interface MqttTransport {
  readonly kind: 'embedded' | 'external';
  publish(topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** Deliver messages on `filter` (device status and ack topics) to `handler`. */
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void>;
  close(): Promise<void>;
}

/** Why a device's request was refused (the bounded label set of dd_mqtt_refused_total). */
export type RefusalReason = 'connect' | 'subscribe' | 'publish';
