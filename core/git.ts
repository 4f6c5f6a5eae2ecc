/** Provider families: each decides the git credential mapping and how a validation answer reads. */
export const PROVIDER_TYPES = ['github', 'gitlab', 'bitbucket', 'azure-devops', 'google', 'oauth2'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** Azure DevOps reads only the password of token credentials; git wants some user name, so this fixed one. */
export const AZURE_DEVOPS_GIT_USERNAME = 'extauth';

/**
 * The git credentials (HTTPS Basic) an agent uses with an access token, per provider type:
 * GitLab `oauth2` + token (https://docs.gitlab.com/api/oauth2/#access-git-over-https-with-access-token);
 * Bitbucket Cloud `x-token-auth` + token (https://developer.atlassian.com/cloud/bitbucket/oauth-2/);
 * Azure DevOps any user name + the Entra access token as password (Git Credential Manager does the same:
 * https://github.com/git-ecosystem/git-credential-manager/blob/main/docs/azrepos-users-and-tokens.md);
 * GitHub and everything else the token as user name with an empty password, as the reference does.
 */
export function gitCredentials(type: ProviderType, accessToken: string): { username: string; password: string } {
  switch (type) {
    case 'gitlab':
      return { username: 'oauth2', password: accessToken };
    case 'bitbucket':
      return { username: 'x-token-auth', password: accessToken };
    case 'azure-devops':
      return { username: AZURE_DEVOPS_GIT_USERNAME, password: accessToken };
    default:
      return { username: accessToken, password: '' };
  }
}
