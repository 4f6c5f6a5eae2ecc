export { linkWorkflow } from './link.js';
export { keepAliveWorkflow } from './keep-alive.js';
