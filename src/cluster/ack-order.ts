/**
 * Acknowledgements keep their order per client [MQTT-4.6.0-2]: a client's hold waits for its own
 * work and for the holds before it. `tails` maps a client id to its latest hold.
 */
export function chainHold(tails: Map<string, Promise<void>>, clientId: string, work: Promise<void>): Promise<void> {
  const previous = tails.get(clientId);
  const hold = previous === undefined ? work : previous.then(() => work, () => work);
  tails.set(clientId, hold);
  const forget = () => {
    if (tails.get(clientId) === hold) tails.delete(clientId);
  };
  hold.then(forget, forget);
  return hold;
}
