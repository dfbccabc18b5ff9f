// Who ran the batch: the CI's own variables give the report its executor (build number, links
// back to the pipeline) and the commit it verified. Pure: takes the environment as an argument.
import type { ExecutorInfo } from "allure-js-commons/sdk";

export type Env = Record<string, string | undefined>;

export interface CiInfo {
  executor: ExecutorInfo;
  /** environment.properties entries (provider, commit, branch). */
  environment: Record<string, string>;
}

const int = (v: string | undefined): number | undefined => (v && /^\d+$/.test(v) ? Number(v) : undefined);
const trimSlash = (u: string) => u.replace(/\/+$/, "");
const defined = <T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== "")) as { [K in keyof T]: Exclude<T[K], undefined> };

/** The CI running us, from its documented variables; undefined when not in a known CI. */
export function ciInfo(env: Env): CiInfo | undefined {
  if (env.GITHUB_ACTIONS === "true" || (env.GITHUB_RUN_ID && env.GITHUB_REPOSITORY)) {
    const server = trimSlash(env.GITHUB_SERVER_URL ?? "https://github.com");
    const repo = env.GITHUB_REPOSITORY ? `${server}/${env.GITHUB_REPOSITORY}` : undefined;
    const runUrl = repo && env.GITHUB_RUN_ID ? `${repo}/actions/runs/${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT && env.GITHUB_RUN_ATTEMPT !== "1" ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : ""}` : undefined;
    return {
      executor: defined({
        name: "GitHub Actions",
        type: "github",
        url: repo,
        buildOrder: int(env.GITHUB_RUN_NUMBER),
        buildName: `${env.GITHUB_WORKFLOW ?? "workflow"} #${env.GITHUB_RUN_NUMBER ?? env.GITHUB_RUN_ID ?? "?"}`,
        buildUrl: runUrl,
      }),
      environment: defined({ ci: "GitHub Actions", commit: env.GITHUB_SHA, branch: env.GITHUB_REF_NAME, "ci.run": runUrl }),
    };
  }
  if (env.GITLAB_CI === "true" || env.CI_PIPELINE_URL) {
    const pipeline = env.CI_PIPELINE_URL;
    return {
      executor: defined({
        name: "GitLab CI",
        type: "gitlab",
        url: env.CI_PROJECT_URL,
        buildOrder: int(env.CI_PIPELINE_IID),
        buildName: `${env.CI_PROJECT_PATH ?? "pipeline"} #${env.CI_PIPELINE_IID ?? env.CI_PIPELINE_ID ?? "?"}${env.CI_JOB_NAME ? ` (${env.CI_JOB_NAME})` : ""}`,
        buildUrl: env.CI_JOB_URL ?? pipeline,
      }),
      environment: defined({ ci: "GitLab CI", commit: env.CI_COMMIT_SHA, branch: env.CI_COMMIT_REF_NAME, "ci.pipeline": pipeline, "ci.job": env.CI_JOB_URL }),
    };
  }
  return undefined;
}
