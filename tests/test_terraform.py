"""The Terraform under terraform/ is well-formed and keeps the deploy's guarantees, checked offline.

Nothing here reaches AWS or the Terraform registry: the aws provider (5.100.0) comes from a local
filesystem mirror, so `terraform validate` and `terraform test` (plans against mocked providers,
terraform/envs/*/tests/) catch a wrong attribute, a type error or a broken module before anyone
runs a real plan. The text checks hold the decisions a reviewer would otherwise re-check by eye:
Aurora PostgreSQL 17.4, the EKS API and the admin API only from the VPN, data stores reachable
only from the EKS nodes, no secret values in code or state, Redis failover in prod and a single node
in dev, dev and prod as two calls of one environment module (so a change lands in both), and mail
through SES from a user that may only send from the environment's domain.
"""

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TF = ROOT / "terraform"
ENVS = ("shared", "dev", "prod")
# `environment` composes redis, media, secrets, irsa, ses and alarms: dev and prod each call it once.
MODULES = (
    *("vpc", "eks", "karpenter", "aurora", "redis", "media", "efs", "waf", "secrets", "irsa", "ses", "alarms"),
    "environment",
)
MIRROR = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))  # test-only: where the provider mirror lies
PROVIDER_DIR = MIRROR / "registry.terraform.io" / "hashicorp" / "aws"
TIMEOUT = 240  # seconds per terraform command


def read(relative: str) -> str:
    return (TF / relative).read_text()


def block(text: str, header: str) -> str:
    """The body of the first `header {...}` block in `text` (braces balanced)."""
    start = text.index(header)
    depth = 0
    for i in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    raise AssertionError(f"unbalanced block {header!r}")


def setting(body: str, name: str) -> str:
    """The right-hand side of `name = ...` in a block body (one line)."""
    match = re.search(rf"^\s*{re.escape(name)}\s*=\s*(.+?)\s*$", body, re.M)
    assert match, f"{name} not set in:\n{body}"
    return match.group(1)


def terraform_binary() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not on PATH")
    return path


def run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for terraform that installs providers only from the local mirror."""
    terraform_binary()
    if not PROVIDER_DIR.is_dir():
        pytest.skip(f"no aws provider mirror at {PROVIDER_DIR} (set TF_PROVIDER_MIRROR to the mirror root)")
    config = tmp_path_factory.mktemp("tf-cli") / "terraformrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{MIRROR}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        "}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}  # no plugin cache, no stray TF_CLI_ARGS
    return env | {"TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


@pytest.fixture(scope="module", params=ENVS)
def initialized(
    request: pytest.FixtureRequest, offline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """An env initialized offline against its committed lock file, its working dir outside the repo."""
    name: str = request.param
    env = offline_env | {"TF_DATA_DIR": str(tmp_path_factory.mktemp(f"tf-data-{name}"))}
    chdir = f"-chdir=terraform/envs/{name}"
    r = run([terraform_binary(), chdir, "init", "-backend=false", "-input=false", "-lockfile=readonly", "-no-color"], env)
    assert r.returncode == 0, f"init of {name} failed:\n{r.stdout}\n{r.stderr}"
    yield name, env


def test_terraform_code_is_formatted() -> None:
    r = run([terraform_binary(), "fmt", "-check", "-recursive", "-diff", "-no-color", "terraform/"], dict(os.environ))
    assert r.returncode == 0, f"terraform fmt would change:\n{r.stdout}\n{r.stderr}"


def test_each_env_validates_offline_with_the_locked_provider(initialized: tuple[str, dict[str, str]]) -> None:
    name, env = initialized
    r = run([terraform_binary(), f"-chdir=terraform/envs/{name}", "validate", "-json", "-no-color"], env)
    try:
        result = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"validate of {name} gave no JSON:\n{r.stdout}\n{r.stderr}") from None
    diagnostics = json.dumps(result.get("diagnostics", []), indent=2)
    assert result["valid"] and result["error_count"] == 0, f"{name} is invalid:\n{diagnostics}\n{r.stderr}"


def test_each_env_plans_against_mocked_providers(initialized: tuple[str, dict[str, str]]) -> None:
    """`terraform test`: a full plan with the env's tfvars (validations, count/for_each, types) and its assertions."""
    name, env = initialized
    r = run([terraform_binary(), f"-chdir=terraform/envs/{name}", "test", "-no-color"], env)
    assert r.returncode == 0, f"terraform test of {name} failed:\n{r.stdout}\n{r.stderr}"


def test_layout_every_module_and_env_has_its_files() -> None:
    for module in MODULES:
        for f in ("main.tf", "variables.tf", "outputs.tf"):
            assert (TF / "modules" / module / f).is_file(), f"modules/{module}/{f} missing"
    for name in ENVS:
        for f in ("versions.tf", "providers.tf", "main.tf", "variables.tf", "outputs.tf", "terraform.tfvars"):
            assert (TF / "envs" / name / f).is_file(), f"envs/{name}/{f} missing"
    assert (TF / "README.md").is_file()


def test_envs_pin_aws_5_100_0_with_a_partial_s3_backend_and_a_lock_file() -> None:
    for name in ENVS:
        versions = read(f"envs/{name}/versions.tf")
        assert re.search(r'version\s*=\s*"5\.100\.0"', versions), name
        assert re.search(r'required_version\s*=\s*">= 1\.9"', versions), name
        assert re.search(r'backend\s+"s3"\s*\{\s*\}', versions), f"{name}: backend must be a partial s3 config"
        lock = read(f"envs/{name}/.terraform.lock.hcl")
        assert 'version     = "5.100.0"' in lock and '"h1:' in lock, f"{name}: lock file must pin aws 5.100.0"
        providers = read(f"envs/{name}/providers.tf")
        assert "default_tags" in providers and "Project" in providers and "Environment" in providers, name
    # dev and prod read the shared stack's state through the environment module.
    main = read("modules/environment/main.tf")
    assert re.search(r'data\s+"terraform_remote_state"\s+"shared"\s*\{\s*backend\s*=\s*"s3"', main)


def test_aurora_is_postgresql_17_4_encrypted_with_an_rds_managed_password() -> None:
    shared = block(read("envs/shared/main.tf"), 'module "aurora"')
    assert setting(shared, "engine_version") == '"17.4"'
    cluster = block(read("modules/aurora/main.tf"), 'resource "aws_rds_cluster" "this"')
    assert setting(cluster, "engine") == '"aurora-postgresql"'
    assert setting(cluster, "engine_version") == "var.engine_version"
    assert setting(cluster, "manage_master_user_password") == "true"
    assert setting(cluster, "storage_encrypted") == "true"
    assert setting(cluster, "deletion_protection") == "var.deletion_protection"
    assert "serverlessv2_scaling_configuration" in cluster
    assert not re.search(r"^\s*master_password\s*=", cluster, re.M)


def test_eks_public_endpoint_answers_only_the_vpn_cidrs() -> None:
    cluster = block(read("modules/eks/main.tf"), 'resource "aws_eks_cluster" "this"')
    assert setting(cluster, "public_access_cidrs") == "var.vpn_cidrs"
    assert setting(cluster, "endpoint_private_access") == "true"
    assert setting(block(read("envs/shared/main.tf"), 'module "eks"'), "vpn_cidrs") == "var.vpn_cidrs"
    assert "0.0.0.0/0" not in setting(read("envs/shared/terraform.tfvars"), "vpn_cidrs")


def test_waf_lets_the_admin_api_through_only_from_the_vpn() -> None:
    waf = read("modules/waf/main.tf")
    acl = block(waf, 'resource "aws_wafv2_web_acl" "this"')
    [rule] = [r for r in acl.split("\n  rule {") if '"admin-api-only-from-vpn"' in r]
    assert "block {}" in rule and "not_statement" in rule and "aws_wafv2_ip_set.vpn.arn" in rule
    assert "search_string         = lower(var.admin_path_prefix)" in rule and "STARTS_WITH" in rule
    assert setting(block(waf, 'resource "aws_wafv2_ip_set" "vpn"'), "addresses") == "var.vpn_cidrs"
    assert setting(block(read("modules/waf/variables.tf"), 'variable "admin_path_prefix"'), "default") == '"/api/v1/admin"'
    assert "AWSManagedRulesCommonRuleSet" in waf and "rate_based_statement" in waf
    shared = read("envs/shared/main.tf")
    assert setting(shared, "admin_allowed_cidrs") == "distinct(concat(var.vpn_cidrs, var.vpn_private_cidrs))"
    for name in ("waf_regional", "waf_cloudfront"):
        assert setting(block(shared, f'module "{name}"'), "vpn_cidrs") == "local.admin_allowed_cidrs"
    assert "aws = aws.us_east_1" in block(shared, 'module "waf_cloudfront"')


def test_aurora_redis_and_efs_admit_only_the_eks_nodes() -> None:
    for module in ("aurora", "redis", "efs"):
        text = read(f"modules/{module}/main.tf")
        rules = re.findall(r'resource "aws_vpc_security_group_ingress_rule"', text)
        assert len(rules) == 1, module
        rule = block(text, 'resource "aws_vpc_security_group_ingress_rule"')
        assert "referenced_security_group_id = var.allowed_security_group_ids[count.index]" in rule, module
        assert "cidr" not in rule and "0.0.0.0/0" not in text, module
        assert not re.search(r"\bingress\s*\{", text), f"{module}: inline ingress rules"
    shared = read("envs/shared/main.tf")
    for module in ("aurora", "efs"):
        body = block(shared, f'module "{module}"')
        assert setting(body, "allowed_security_group_ids") == "[module.eks.cluster_security_group_id]"
    body = block(read("modules/environment/main.tf"), 'module "redis"')
    assert setting(body, "allowed_security_group_ids") == "[local.shared.node_security_group_id]"


def test_prod_redis_fails_over_automatically_and_dev_is_a_single_node() -> None:
    prod = block(read("envs/prod/main.tf"), 'module "environment"')
    assert setting(prod, "redis_automatic_failover_enabled") == "true"
    assert setting(prod, "redis_multi_az_enabled") == "true"
    assert int(setting(prod, "redis_num_cache_clusters")) >= 2
    assert setting(prod, "redis_watch_replication_lag") == "true"
    dev = block(read("envs/dev/main.tf"), 'module "environment"')
    assert setting(dev, "redis_num_cache_clusters") == "1"
    assert setting(dev, "redis_automatic_failover_enabled") == "false"
    # The environment module hands each of them to the redis module unchanged.
    redis = block(read("modules/environment/main.tf"), 'module "redis"')
    for name in ("num_cache_clusters", "automatic_failover_enabled", "multi_az_enabled", "snapshot_retention_days"):
        assert setting(redis, name) == f"var.redis_{name}", name
    group = block(read("modules/redis/main.tf"), 'resource "aws_elasticache_replication_group" "this"')
    assert setting(group, "num_cache_clusters") == "var.num_cache_clusters"
    assert setting(group, "automatic_failover_enabled") == "var.automatic_failover_enabled"
    assert setting(group, "transit_encryption_enabled") == "true"


HELM_OUTPUTS = {
    "namespace", "service_account_role_arn", "secret_name", "storage_url", "media_base_url", "redis_url",
    "db_host", "db_schema", "efs_volume_handle", "admin_allowed_cidrs", "waf_regional_web_acl_arn",
}
# What an operator needs for the mail: the user to make SMTP credentials for, the host, DNS records.
MAIL_OUTPUTS = {"smtp_user_name", "smtp_host", "mail_dns_records"}
# The modules dev and prod called themselves before modules/environment existed: each keeps a moved block.
FORMERLY_IN_THE_ROOTS = {"redis", "media", "secrets", "irsa", "alarms"}


def top_level_blocks(text: str) -> list[str]:
    """Headers of the top-level blocks of a .tf file, e.g. 'module "redis"', 'moved', 'locals'."""
    return [" ".join(m.group(1).split()) for m in re.finditer(r'^(\w+(?:\s+"[^"]*")*)\s*\{', text, re.M)]


def test_dev_and_prod_are_one_environment_module_called_twice() -> None:
    """Each env's main.tf calls only modules/environment, so a change there lands in both environments."""
    module_main = read("modules/environment/main.tf")
    inner = sorted(h.split('"')[1] for h in top_level_blocks(module_main) if h.startswith("module "))
    assert set(inner) >= FORMERLY_IN_THE_ROOTS | {"ses"}, inner
    calls = {}
    for name in ("dev", "prod"):
        main = read(f"envs/{name}/main.tf")
        headers = top_level_blocks(main)
        assert set(headers) <= {"locals", 'module "environment"', "moved"}, f"{name}: {headers}"
        assert headers.count('module "environment"') == 1, name
        calls[name] = block(main, 'module "environment"')
        assert setting(calls[name], "source") == '"../../modules/environment"', name
        # Resources that used to be called from the root keep their state: one moved block per module.
        moved = {
            (m.group(1), m.group(2))
            for m in re.finditer(r"moved\s*\{\s*from\s*=\s*(\S+)\s*to\s*=\s*(\S+)\s*\}", main)
        }
        assert moved == {(f"module.{m}", f"module.environment.module.{m}") for m in FORMERLY_IN_THE_ROOTS}, f"{name}: {moved}"
        # The outputs the Helm values and the operator use are there, each forwarded from the module.
        outputs = read(f"envs/{name}/outputs.tf")
        forwarded = dict(re.findall(r'output "(\w+)" \{\s*value\s*=\s*module\.environment\.(\w+)\s*\}', outputs))
        assert len(forwarded) == outputs.count("output ") and set(forwarded) == HELM_OUTPUTS | MAIL_OUTPUTS, f"{name}: {forwarded}"
        assert all(k == v for k, v in forwarded.items()), f"{name}: {forwarded}"
        assert "data.terraform_remote_state.shared" not in main
    # Both set the same inputs: what tells them apart is a value, never a missing or extra setting.
    dev, prod = (set(re.findall(r"^  (\w+)\s*=", body, re.M)) for body in calls.values())
    assert dev == prod, f"only dev: {dev - prod}, only prod: {prod - dev}"
    assert read("envs/dev/variables.tf") == read("envs/prod/variables.tf")
    module_outputs = set(re.findall(r'^output "(\w+)"', read("modules/environment/outputs.tf"), re.M))
    assert HELM_OUTPUTS | MAIL_OUTPUTS <= module_outputs


def test_no_secret_values_anywhere_under_terraform() -> None:
    assigned_secret = re.compile(
        r"^\s*\"?[\w-]*(password|passwd|secret|token|api_key|apikey|private_key)\"?\s*=\s*\"[^\"]+\"", re.I | re.M
    )
    patterns = {
        "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
        "AWS secret access key": re.compile(r"aws_secret_access_key", re.I),
        "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        "secret-like setting with a quoted literal": assigned_secret,
    }
    found = []
    for path in sorted(TF.rglob("*")):
        if not path.is_file() or ".terraform" in path.parts[:-1]:
            continue
        text = path.read_text(errors="replace")
        found += [f"{path.relative_to(ROOT)}: {what}" for what, p in patterns.items() if p.search(text)]
    assert found == []
    # The only secret version Terraform writes is the placeholder: every key, every value empty.
    version = block(read("modules/secrets/main.tf"), 'resource "aws_secretsmanager_secret_version" "placeholder"')
    assert setting(version, "secret_string") == 'jsonencode({ for k in var.keys : k => "" })'
    assert "ignore_changes = [secret_string" in version
    # An access key's secret (and the SMTP password derived from it) would be written to the state.
    keys = [str(p.relative_to(ROOT)) for p in TF.rglob("*.tf") if 'resource "aws_iam_access_key"' in p.read_text()]
    assert keys == []


def secret_keys() -> list[str]:
    """The keys of the placeholder version of every environment's secret (modules/secrets)."""
    body = block(read("modules/secrets/variables.tf"), 'variable "keys"')
    return re.findall(r'"([A-Z][A-Z0-9_]+)"', body)


def test_every_key_the_chart_reads_is_one_the_secret_is_created_with() -> None:
    """External Secrets refuses to sync a Secret when one property it reads is missing from the document."""
    chart = yaml.safe_load((ROOT / "helm" / "pingvas" / "values.yaml").read_text())["secrets"]
    read_by_chart = [*chart["keys"], chart["kedaConnectionProperty"]]
    assert set(read_by_chart) <= set(secret_keys()), set(read_by_chart) - set(secret_keys())
    assert "PINGVAS_SMTP_URL" in read_by_chart


def studio_host(env: str) -> str:
    """The studio's host in the environment's Helm values: its mail comes from that domain."""
    return yaml.safe_load((ROOT / "helm" / "pingvas" / f"values-{env}.yaml").read_text())["ingress"]["host"]


def test_mail_goes_through_ses_from_a_user_that_may_only_send_from_its_domain() -> None:
    ses = read("modules/ses/main.tf")
    identity = block(ses, 'resource "aws_sesv2_email_identity" "this"')
    assert setting(identity, "email_identity") == "var.domain"
    assert setting(identity, "next_signing_key_length") == '"RSA_2048_BIT"'
    assert setting(identity, "configuration_set_name") == "aws_sesv2_configuration_set.this.configuration_set_name"
    config = block(ses, 'resource "aws_sesv2_configuration_set" "this"')
    assert setting(config, "tls_policy") == '"REQUIRE"'
    assert setting(config, "suppressed_reasons") == '["BOUNCE", "COMPLAINT"]'
    # The only permission of the SMTP user: raw mail from this identity (through its configuration set).
    policy = block(ses, 'data "aws_iam_policy_document" "send"')
    assert policy.count("statement {") == 1 and "condition" not in policy
    assert setting(policy, "actions") == '["ses:SendRawEmail"]'
    assert setting(policy, "resources") == "[aws_sesv2_email_identity.this.arn, aws_sesv2_configuration_set.this.arn]"
    assert setting(block(ses, 'resource "aws_iam_user_policy" "send"'), "user") == "aws_iam_user.smtp.name"
    assert len(re.findall(r'^resource "aws_iam_user_policy', ses, re.M)) == 1 and "aws_iam_policy_attachment" not in ses
    # Records only in a zone the environment names; without one, the output lists them for any DNS.
    records = block(ses, 'resource "aws_route53_record" "this"')
    assert setting(records, "count") == "var.route53_zone_id == null ? 0 : length(local.dns_records)"
    environment = block(read("modules/environment/main.tf"), 'module "ses"')
    assert setting(environment, "domain") == "var.mail_domain"
    assert setting(environment, "route53_zone_id") == "var.mail_route53_zone_id"
    zone = block(read("modules/environment/variables.tf"), 'variable "mail_route53_zone_id"')
    assert setting(zone, "default") == "null"
    for name in ("dev", "prod"):
        call = block(read(f"envs/{name}/main.tf"), 'module "environment"')
        assert setting(call, "mail_domain") == f'"{studio_host(name)}"', name



def test_no_terraform_state_or_working_dirs_in_the_repo() -> None:
    leftovers = [str(p.relative_to(ROOT)) for p in TF.rglob("*") if p.name == ".terraform" or ".tfstate" in p.name]
    assert leftovers == []
    ignored = read(".gitignore").splitlines()
    assert ".terraform/" in ignored and any(line.startswith("*.tfstate") for line in ignored)
    assert not any("lock.hcl" in line and not line.startswith("#") for line in ignored)
