// Validation per provider family: how the token is presented, and which answers mean "this token is dead".
import { describe, expect, it } from 'vitest';
import { classifyValidationAnswer, validationRequest } from '../providers/validation.js';

const jsonHeaders = new Headers({ 'content-type': 'application/json; charset=utf-8' });

describe('validationRequest', () => {
  it('GitHub, GitLab, Bitbucket and generic providers: GET with the token as a Bearer header', () => {
    for (const type of ['github', 'gitlab', 'bitbucket', 'oauth2'] as const) {
      const request = validationRequest(type, 'TOKEN');
      expect(request.method).toBe('GET');
      expect(request.headers.authorization).toBe('Bearer TOKEN');
      expect(request.body).toBeUndefined();
    }
  });

  it('Google tokeninfo: POST with the token in the Authorization header, never in the URL or body', () => {
    const request = validationRequest('google', 'TOKEN');
    expect(request).toMatchObject({ method: 'POST', body: '' });
    expect(request.headers.authorization).toBe('Bearer TOKEN');
  });

  it('Azure DevOps: asks for a 401 instead of the sign-in redirect', () => {
    const request = validationRequest('azure-devops', 'TOKEN');
    expect(request.method).toBe('GET');
    expect(request.headers['x-tfs-fedauthredirect']).toBe('Suppress');
  });
});

describe('classifyValidationAnswer', () => {
  it('Google: 400 invalid_token is a refused token; any other 400 stays an error', () => {
    const dead = JSON.stringify({ error: 'invalid_token', error_description: 'Invalid Value' });
    expect(classifyValidationAnswer('google', 400, jsonHeaders, dead)).toBe('unauthorized');
    expect(classifyValidationAnswer('google', 400, jsonHeaders, JSON.stringify({ error: 'invalid_request' }))).toBe('error');
    expect(classifyValidationAnswer('google', 400, jsonHeaders, 'not json')).toBe('error');
    // Only Google's tokeninfo answers a dead token with 400.
    expect(classifyValidationAnswer('github', 400, jsonHeaders, dead)).toBe('error');
  });

  it("Azure DevOps: 203 (the sign-in page) is a refused token; elsewhere a 203 is a 2xx", () => {
    expect(classifyValidationAnswer('azure-devops', 203, new Headers({ 'content-type': 'text/html' }), '<html></html>')).toBe('unauthorized');
    expect(classifyValidationAnswer('github', 203, jsonHeaders, '{}')).toBe('valid');
  });

  it('401 is a refusal for every family (GitLab token info, Bitbucket, Microsoft, GitHub)', () => {
    for (const type of ['github', 'gitlab', 'bitbucket', 'azure-devops', 'google', 'oauth2'] as const) {
      expect(classifyValidationAnswer(type, 401, jsonHeaders, JSON.stringify({ error: 'invalid_token' }))).toBe('unauthorized');
    }
  });

  it('the generic rules still apply underneath: 200 valid, 429 rate limited, 5xx error', () => {
    expect(classifyValidationAnswer('google', 200, jsonHeaders, '{}')).toBe('valid');
    expect(classifyValidationAnswer('gitlab', 429, jsonHeaders, '{}')).toBe('rate_limited');
    expect(classifyValidationAnswer('azure-devops', 503, jsonHeaders, '{}')).toBe('error');
  });
});
