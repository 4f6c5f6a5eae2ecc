export { linkWorkflow } from './link.js';
