/**
 * The Standard Schema interface, version 1 (https://standardschema.dev), written out here so that
 * the library imports no validator and no types package: zod (≥ 3.24), valibot (≥ 1.0), arktype
 * (≥ 2.0) and others implement it. Only what {@link schemaCodec} reads is declared; any object
 * implementing the full specification fits.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

// The specification's own layout: one namespace of the types that go with the interface.
export declare namespace StandardSchemaV1 {
  /** The Standard Schema properties of a schema. */
  export interface Props<Input = unknown, Output = Input> {
    /** The version of the specification: 1. */
    readonly version: 1;
    /** The library that made the schema (`'zod'`, `'valibot'`…). */
    readonly vendor: string;
    /** Validates `value`; a Promise when the schema has asynchronous checks. */
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    /** Inferred types; present only at the type level. */
    readonly types?: Types<Input, Output> | undefined;
  }

  /** What `validate` gives: the value, or the issues. */
  export type Result<Output> = SuccessResult<Output> | FailureResult;

  /** A valid value, as the schema outputs it (after its transforms, if any). */
  export interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }

  /** An invalid value. */
  export interface FailureResult {
    readonly issues: ReadonlyArray<Issue>;
  }

  /** One problem with the value. */
  export interface Issue {
    readonly message: string;
    /** Where in the value: property names and indices, or path segments that hold them. */
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }

  /** A path segment of an issue. */
  export interface PathSegment {
    readonly key: PropertyKey;
  }

  /** The input and output types of a schema. */
  export interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }

  /** The type a schema accepts. */
  export type InferInput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['input'];

  /** The type a schema gives when valid. */
  export type InferOutput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['output'];
}
