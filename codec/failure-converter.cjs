// Loaded by path (require) by clients, workers and the workflow bundle: failure messages and stack traces
// become payloads, so the payload codec encrypts them. Plain CommonJS so that every loader can read it.
const { DefaultFailureConverter } = require('@temporalio/common');

/**
 * The default converter (SDK 1.24) drops a TimeoutFailure's cause. When an activity's retry budget runs out,
 * the server puts the last attempt's failure (e.g. "token endpoint: HTTP 503") there: keep it.
 */
class ExtauthFailureConverter extends DefaultFailureConverter {
  failureToErrorInner(failure, payloadConverter, context) {
    const err = super.failureToErrorInner(failure, payloadConverter, context);
    if (failure.timeoutFailureInfo && failure.cause && err.cause === undefined) {
      err.cause = this.optionalFailureToOptionalError(failure.cause, payloadConverter, context);
    }
    return err;
  }
}

exports.failureConverter = new ExtauthFailureConverter({ encodeCommonAttributes: true });
