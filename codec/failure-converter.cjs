// Loaded by path (require) by clients, workers and the workflow bundle: failure messages and stack traces
// become payloads, so the payload codec encrypts them. Plain CommonJS so that every loader can read it.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
