export { linkWorkflow } from './link.js';
export { keepAliveWorkflow } from './keep-alive.js';
export { webhookDeliveryWorkflow } from './webhook-delivery.js';
export { revokeGrantWorkflow } from './revoke-grant.js';
