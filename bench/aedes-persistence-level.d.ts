/** aedes-persistence-level 9 ships no types; this is the one call the benchmark makes. */
declare module 'aedes-persistence-level' {
  /** An aedes persistence (pass as `persistence` to Aedes.createBroker) over a `level` database. */
  export default function aedesPersistenceLevel(db: unknown): unknown;
}
