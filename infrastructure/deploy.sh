#!/usr/bin/env bash
# Deploys the pix-proxy stacks in dependency order with `aws cloudformation deploy`.
#
#   infrastructure/deploy.sh -e ENV [-p PROFILE] [-r REGION] [--dry-run] [--status]
#                            [--only-stacks a,b] [--skip-stacks a,b] [--from-stack name]
#
# Parameters come from infrastructure/environments/ENV.json ({"stacks": [...], "parameters":
# {"<stack>": {"Name": "value" | {"file": "path"}}}}); each stack's outputs become the parameters of
# the same name of the stacks after it. Secrets never come from a file in the repository: the keys
# stack takes them from the environment (PIX_MTLS_PRIVATE_KEY_FILE, PIX_HSM_USER, PIX_HSM_PASSWORD).
# The Lambda's code artefact is named by its S3 object version, PIX_CODE_OBJECT_VERSION (the
# VersionId `aws s3api put-object` printed for the upload; docs/lambda.md "Releases and rollback").
# --dry-run creates change sets without executing them (it calls CloudFormation; prints every command).
set -euo pipefail

ORDER=(network audit keys certificates kms-lambda hsm-fargate simulator)
here=$(cd "$(dirname "$0")" && pwd)
env_name="" profile="" region="" dry_run=false status=false only="" skip="" from=""

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -e|--environment) env_name=$2; shift 2 ;;
    -p|--profile) profile=$2; shift 2 ;;
    -r|--region) region=$2; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    --status) status=true; shift ;;
    --only-stacks) only=$2; shift 2 ;;
    --skip-stacks) skip=$2; shift 2 ;;
    --from-stack) from=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "deploy.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$env_name" ] || { echo "deploy.sh: -e ENV is required" >&2; usage; }
[[ "$env_name" =~ ^[a-z0-9]+$ ]] || { echo "deploy.sh: ENV must be lower-case letters and digits" >&2; exit 2; }
config="$here/environments/$env_name.json"
[ -f "$config" ] || { echo "deploy.sh: no $config" >&2; exit 2; }

aws_args=()
[ -n "$profile" ] && aws_args+=(--profile "$profile")
[ -n "$region" ] && aws_args+=(--region "$region")
aws_cf() { aws "${aws_args[@]}" cloudformation "$@"; }
stack_name() { echo "pix-proxy-$env_name-$1"; }
in_list() { case ",$2," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# The stacks this environment deploys, in dependency order, filtered by the options.
mapfile -t wanted < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["stacks"]))' "$config")
for s in "${wanted[@]}" ${only//,/ } ${skip//,/ } $from; do
  in_list "$s" "$(IFS=,; echo "${ORDER[*]}")" || { echo "deploy.sh: unknown stack '$s'" >&2; exit 2; }
done
selected=() started=false
[ -z "$from" ] && started=true
for s in "${ORDER[@]}"; do
  [ "$s" = "$from" ] && started=true
  in_list "$s" "$(IFS=,; echo "${wanted[*]}")" || continue
  $started || continue
  [ -n "$only" ] && ! in_list "$s" "$only" && continue
  [ -n "$skip" ] && in_list "$s" "$skip" && continue
  selected+=("$s")
done

if $status; then
  for s in "${ORDER[@]}"; do
    in_list "$s" "$(IFS=,; echo "${wanted[*]}")" || continue
    st=$(aws_cf describe-stacks --stack-name "$(stack_name "$s")" --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo "NOT_DEPLOYED")
    printf '%-12s %s\n' "$s" "$st"
  done
  exit 0
fi

# Outputs of the stacks deployed so far (earlier runs included), as NAME=VALUE lines.
outputs_file=$(mktemp) params_file=$(mktemp)
trap 'rm -f "$outputs_file" "$params_file"' EXIT
collect_outputs() {
  aws_cf describe-stacks --stack-name "$(stack_name "$1")" --query 'Stacks[0].Outputs' --output json 2>/dev/null |
    python3 -c "import json, sys
for o in json.load(sys.stdin) or []: print(o['OutputKey'] + '=' + o['OutputValue'])" >>"$outputs_file" || true
}

# parameter-overrides for a stack: environment file first, then outputs of earlier stacks, then
# secrets from the environment; only names the template declares.
overrides() {
  python3 - "$here/stacks/$1.yaml" "$config" "$1" "$outputs_file" <<'PY'
import json, os, re, sys
template, config, stack, outputs = sys.argv[1:]
declared, inside = [], False
for line in open(template):
    if re.match(r"^\S", line):
        inside = line.startswith("Parameters:")
    elif inside and (m := re.match(r"^  (\w+):", line)):
        declared.append(m.group(1))
values = {}
for line in open(outputs):
    k, _, v = line.rstrip("\n").partition("=")
    values[k] = v
for k, v in json.load(open(config)).get("parameters", {}).get(stack, {}).items():
    values[k] = open(os.path.join(os.path.dirname(config), v["file"])).read() if isinstance(v, dict) else v
secrets = {"MtlsPrivateKey": "PIX_MTLS_PRIVATE_KEY_FILE", "HsmUser": "PIX_HSM_USER", "HsmPassword": "PIX_HSM_PASSWORD",
           "ProxyTlsPrivateKey": "PIX_PROXY_TLS_PRIVATE_KEY_FILE"}
# What each deployment names anew, from the environment too (not a secret).
released = {"CodeObjectVersion": "PIX_CODE_OBJECT_VERSION"}
for name, var in {**secrets, **released}.items():
    if name in declared and os.environ.get(var):
        values[name] = open(os.environ[var]).read() if var.endswith("_FILE") else os.environ[var]
values.setdefault("Environment", os.path.basename(config)[:-5])
needs = {"kms": ["MtlsPrivateKey"], "cloudhsm": ["HsmUser", "HsmPassword", "ProxyTlsPrivateKey"]}.get(values.get("Flavour"), [])
missing = [secrets[n] for n in needs if n in declared and not values.get(n)]
missing += [var for n, var in released.items() if n in declared and not values.get(n)]
if missing:
    sys.exit(f"deploy.sh: the {stack} stack needs {' and '.join(missing)} in the environment")
# NUL-separated: certificates and keys span lines.
for name in declared:
    if name in values:
        sys.stdout.write(f"{name}={values[name]}\0")
PY
}

for s in "${ORDER[@]}"; do
  # Outputs of every stack before the first selected one (already deployed) feed the rest.
  [ "$s" = "${selected[0]:-}" ] && break
  collect_outputs "$s"
done
for s in "${selected[@]}"; do
  overrides "$s" >"$params_file" || exit 1
  mapfile -d '' -t params <"$params_file"
  cmd=(aws "${aws_args[@]}" cloudformation deploy --stack-name "$(stack_name "$s")"
       --template-file "$here/stacks/$s.yaml" --capabilities CAPABILITY_NAMED_IAM
       --no-fail-on-empty-changeset --tags "project=pix-proxy" "environment=$env_name")
  [ ${#params[@]} -gt 0 ] && cmd+=(--parameter-overrides "${params[@]}")
  $dry_run && cmd+=(--no-execute-changeset)
  # Print the command with secret values masked.
  printf '+'; for a in "${cmd[@]}"; do
    case "$a" in
      MtlsPrivateKey=*|HsmUser=*|HsmPassword=*|ProxyTlsPrivateKey=*) printf ' %s' "${a%%=*}=****" ;;
      *) printf ' %q' "$a" ;;
    esac
  done; printf '\n'
  "${cmd[@]}"
  collect_outputs "$s"
done
