import { ConfigurationError } from '../errors/configuration-error.js';

// Imported first by `exclusive-consumer/otel`. Under `require()` (the CommonJS build) modules run in
// import order, so a missing `@opentelemetry/api` fails here with what to install rather than with
// the bare "Cannot find module" of the first file that uses it. In ES modules every import is
// resolved before any code runs, and Node's own error names the package.
if (typeof require === 'function') {
  try {
    require('@opentelemetry/api');
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes("'@opentelemetry/api'")) {
      const missing = new ConfigurationError(
        '@opentelemetry/api',
        'installed',
        undefined,
        'exclusive-consumer/otel needs the optional peer dependency `@opentelemetry/api` (^1.3.0): install it (npm install @opentelemetry/api) together with an OpenTelemetry SDK',
      );
      (missing as { cause?: unknown }).cause = error;
      throw missing;
    }
    throw error;
  }
}
