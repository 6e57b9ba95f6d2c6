#!/usr/bin/env bash
# The real-account test: deploys a throwaway copy of the stack (plus the drop and the
# assertion stacks), waits for every report and checks it, then always destroys it.
# Needs AWS credentials, a bootstrapped account, and the secret posthog-backfill/integ-api-key
# (see README, "Before a real migration"). Exit status: 0 when every assertion held.
set -u
cd "$(dirname "$0")/../.."
APP="node --import tsx test/integ/integ.backfill.ts"
status=0
npx cdk deploy --app "$APP" --all --require-approval never "$@" || status=$?
npx cdk destroy --app "$APP" --all --force || { [ "$status" -eq 0 ] && status=1; }
exit "$status"
