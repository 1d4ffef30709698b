/** What the proxy puts into every resource-creating request. */
export interface Injected {
  /** Labels added to every resource; they replace a client's value for the same key. */
  readonly labels: ReadonlyMap<string, string>;
  /** When set, every container is created under this cgroup parent. */
  readonly cgroupParent?: string;
}
