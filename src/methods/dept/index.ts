/** DePT: config, method, files and registry entry. Import through registry.ts outside src/methods/. */
export { DeptConfigSchema, validateDeptConfig, deptScaling, deptParamCount, deptRankForBudget, type DeptConfig } from './config.js';
export { Dept } from './dept.js';
export { loadDept, saveDept } from './files.js';
export { deptEntry } from './entry.js';
