/**
 * The built-in request stages, in order. User stages go after the
 * injections and before serialization, so they see (and may change) the
 * rewritten request and cannot be skipped by it. create-bind-volumes comes
 * last: it reads the body exactly as serialize printed it for the daemon.
 * check-rollback reads it too (a service update's failure action).
 */
import type { CgroupParentResolution } from "../cgroup/cgroup-parent.js";
import type { DaemonClient } from "../daemon-client.js";
import { type BodyBudget, bodyBudgetFor } from "./body-budget.js";
import type { Stage } from "./stage.js";
import { bufferBodyStage } from "./stages/buffer-body.js";
import { checkRollbackStage } from "./stages/check-rollback.js";
import { classifyStage } from "./stages/classify.js";
import { createBindVolumesStage, volumeCreator } from "./stages/create-bind-volumes.js";
import { guardHeldVolumesStage } from "./stages/guard-held-volumes.js";
import { injectCgroupStage } from "./stages/inject-cgroup.js";
import { injectLabelsStage } from "./stages/inject-labels.js";
import { refuseBuildKitStage } from "./stages/refuse-buildkit.js";
import { serializeStage } from "./stages/serialize.js";
import { VolumeHolds } from "./volume-holds.js";

export interface InjectionConfig {
  /** Labels put on every created resource; the proxy's value wins over the client's. */
  readonly labels: ReadonlyMap<string, string>;
  /** The largest body buffered to rewrite (413 over it). */
  readonly maxBodyBytes: number;
  /**
   * What all bodies being buffered at once may hold (body-budget.ts); at
   * least `maxBodyBytes`. Default: four times `maxBodyBytes`.
   */
  readonly maxBufferedBytes?: number | undefined;
  /** The budget itself, to share or watch it (the proxy's metrics); made from `maxBufferedBytes` when absent. */
  readonly bodyBudget?: BodyBudget | undefined;
  /** The parent every created container gets (resolved at startup); undefined: feature off. */
  readonly cgroupParent?: CgroupParentResolution | undefined;
  /**
   * The proxy's own calls to the daemon: creating the named volumes a
   * container's `Binds` would make (create-bind-volumes), looking at a
   * service before a rollback (check-rollback).
   */
  readonly daemon: DaemonClient;
  /** `--refuse-buildkit`: refuse /build?version=2 and /grpc (see refuse-buildkit). */
  readonly refuseBuildKit?: boolean;
}

export function defaultStages(config: InjectionConfig, extraStages: readonly Stage[] = []): Stage[] {
  const holds = new VolumeHolds();
  const bodyLimits = { maxBodyBytes: config.maxBodyBytes, budget: config.bodyBudget ?? bodyBudgetFor(config) };
  return [
    classifyStage,
    guardHeldVolumesStage(holds, bodyLimits),
    ...(config.refuseBuildKit ? [refuseBuildKitStage] : []),
    bufferBodyStage(bodyLimits),
    injectLabelsStage(config.labels),
    injectCgroupStage(config.cgroupParent),
    ...extraStages,
    serializeStage,
    checkRollbackStage(config.labels, config.daemon),
    createBindVolumesStage(volumeCreator(config.daemon), holds),
  ];
}
