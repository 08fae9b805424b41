import type { Plugin } from '../hooks.js';
import type { ResolvedOptions } from '../options.js';
import { AclPlugin } from './acl.js';
import { JwtPlugin, looksLikeJwt } from './jwt.js';
import { PasswordFilePlugin } from './password-file.js';
import { scramSha256, scramUsersFile } from './scram.js';

/** The built-in security plugins the options ask for, and how to reload their files. */
export interface Security {
  /** Authentication first (password file, JWT), then the ACL; registered before the user's plugins. */
  readonly plugins: Plugin[];
  /** Rereads the SCRAM users, password, ACL and JWKS files; all or nothing: on an error nothing changes. */
  reload(): void;
}

type SecurityOptions = Pick<
  ResolvedOptions,
  | 'passwordFile'
  | 'aclFile'
  | 'allowAnonymous'
  | 'certAsUsername'
  | 'jwtSecret'
  | 'jwtJwksFile'
  | 'jwtUsernameClaim'
  | 'jwtTopicsClaim'
  | 'jwtIssuer'
  | 'jwtAudience'
  | 'scramUsersFile'
>;

/**
 * Builds the plugins for the SCRAM users file, the password file, JWT and the ACL file. With both a password file and
 * JWT, a password shaped like a JWT is verified as a token and any other against the file.
 * Reading a file fails here, at start, with ERR_SECURITY_FILE.
 */
export function createSecurity(options: SecurityOptions): Security {
  const jwtOn = options.jwtSecret !== '' || options.jwtJwksFile !== '';
  const fileOn = options.passwordFile !== '';
  const passwords = fileOn
    ? new PasswordFilePlugin({
        file: options.passwordFile,
        allowAnonymous: options.allowAnonymous,
        certAsUsername: options.certAsUsername,
        ...(jwtOn ? { skip: (c) => looksLikeJwt(c.password) } : {}),
      })
    : undefined;
  const jwt = jwtOn
    ? new JwtPlugin({
        secret: options.jwtSecret,
        jwksFile: options.jwtJwksFile,
        usernameClaim: options.jwtUsernameClaim,
        topicsClaim: options.jwtTopicsClaim,
        issuer: options.jwtIssuer,
        audience: options.jwtAudience,
        allowAnonymous: options.allowAnonymous,
        certAsUsername: options.certAsUsername,
        ...(fileOn ? { skip: (c) => !looksLikeJwt(c.password) } : {}),
      })
    : undefined;
  const acl = options.aclFile !== '' ? new AclPlugin(options.aclFile) : undefined;
  const scramUsers = options.scramUsersFile !== '' ? scramUsersFile(options.scramUsersFile) : undefined;
  const scram = scramUsers ? scramSha256(scramUsers) : undefined;
  const plugins: Plugin[] = [scram, passwords, jwt, acl].filter((p): p is NonNullable<typeof p> => p !== undefined);
  return {
    plugins,
    reload() {
      // Read every file first, so a bad one leaves every current rule in place
      const commits = [scramUsers?.prepareReload(), passwords?.prepareReload(), jwt?.prepareReload(), acl?.prepareReload()];
      for (const commit of commits) commit?.();
    },
  };
}
