// The types of validators.generated.cjs (ajv standalone code made by `npm run schemas`).
import type { ErrorObject } from 'ajv';

type Validator = { (data: unknown): boolean; errors?: ErrorObject[] | null };

export declare const validateConfig: Validator;
export declare const validateBrand: Validator;
export declare const validateMaintenanceNotice: Validator;
