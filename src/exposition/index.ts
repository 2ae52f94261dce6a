/**
 * `scrapeguard/exposition`: the exposition model and its parts — the strict parser, the renderer,
 * content negotiation, redaction, the secret detectors and the pipeline that joins them — for
 * tools that filter or check expositions without serving them.
 * @packageDocumentation
 */
export {
  toMetricsSource,
  defineMetricsSource,
  type MetricsSource,
  type MetricsSourceInput,
  type RegistryLike,
  type ClusterRegistryLike,
  type Exposition,
  type SourceOutput,
  type ProtobufOutput,
  type SourceRequest,
} from './source.js';
export { upstreamSource, type UpstreamIdentityHeaders, type UpstreamOptions, type UpstreamTlsOptions } from './upstream.js';
export { ExpositionParseError, SourceError, type SourceFailureReason } from './failure.js';
export { parseExposition, sniffFormat } from './parse.js';
export { renderExposition, TEXT_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE, type RenderResult, type RenderOptions } from './render.js';
export { escapeName, escapeLabelName, escapeFamilies, type EscapingScheme } from './escaping.js';
export { negotiateFormat, acceptsGzip, type NegotiatedFormat, type NegotiateOptions } from './negotiate.js';
export { createPipeline, type ExpositionPipeline, type ExposeOptions, type PipelineOptions, type RenderedExposition } from './pipeline.js';
export { compileRedaction, type Redactor, type RedactionReport, type RedactionRule } from './redact.js';
export { defaultRedaction } from '../config/redaction.js';
export { SECRET_DETECTORS, SECRET_DETECTOR_NAMES, compileSecretDetection, maskedPreview, type SecretDetector } from './secrets.js';
export type { MetricFamily, Sample, Exemplar, MetricType, ExpositionFormat, NativeHistogram, BucketSpan } from './model.js';
export { decodeProtobuf, encodeProtobuf, isProtobufContentType, ProtobufDecodeError, PROTOBUF_CONTENT_TYPE } from './protobuf/codec.js';
