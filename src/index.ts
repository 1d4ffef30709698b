/**
 * Programmatic API: start the proxy in-process, optionally with stages of your own.
 */
export { startProxy, type ProxyConfig, type RunningProxy, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES } from "./proxy.js";
export { defaultStages, type InjectionConfig } from "./pipeline/default-stages.js";
export { type Stage, stageOperator, pipelineOf } from "./pipeline/stage.js";
export type { ProxyRequest, RewritePlan } from "./pipeline/proxy-request.js";
export type { CgroupParentSetting, CgroupParentResolution } from "./cgroup/cgroup-parent.js";
export type { Exchange } from "./sinks/response-relay.js";
export { ProxyError, RequestRefusedError, RewriteError, DaemonError, ConfigError, type ProxyErrorCode } from "./errors.js";
export { createLogger } from "./logging.js";
