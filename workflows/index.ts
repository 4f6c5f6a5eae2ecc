export { linkWorkflow } from './link.js';
export { keepAliveWorkflow } from './keep-alive.js';
export { revokeGrantWorkflow } from './revoke-grant.js';
