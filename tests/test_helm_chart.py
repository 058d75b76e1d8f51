"""The Helm chart (helm/pingvas) lints, renders for dev and prod, and its manifests hold the deploy's promises.

Rendered offline with helm-python-sdk (Helm's own Go SDK, no binary, no cluster); core kinds are
validated against Kubernetes' schemas with kubernetes-validate. Custom resources (External Secrets,
KEDA, the Prometheus operator, Karpenter) have no schema there: they must be of the operators and
versions listed in CRDS, and their content is checked by the invariants below.
"""

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "pingvas"
KUBERNETES = "1.31"
NAMESPACES = {"dev": "pingvas-dev", "prod": "pingvas-prod"}
CRDS = {
    ("external-secrets.io/v1", "SecretStore"),
    ("external-secrets.io/v1", "ExternalSecret"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("karpenter.sh/v1", "NodePool"),
    ("karpenter.k8s.aws/v1", "EC2NodeClass"),
}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|API_KEY|TOKEN|DSN|DATABASE_URL|REDIS_URL|SMTP_URL", re.I)


def env_values(env: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / f"values-{env}.yaml").read_text())


def render(env: str, overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    values = env_values(env) | (overrides or {})
    manifests = chart.render(values, name="pingvas", namespace=NAMESPACES[env], is_install=True)
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="module", params=["dev", "prod"])
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, [(d["kind"], d["metadata"]["name"]) for d in docs])
    return found[0]


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_chart_lints_clean_for_each_environment(env: str) -> None:
    report = helm.lint(CHART, env_values(env), strict=True, namespace=NAMESPACES[env], kube_version=f"v{KUBERNETES}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


def test_every_rendered_manifest_validates_against_the_kubernetes_schemas(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    core = [d for d in docs if (d["apiVersion"], d["kind"]) not in CRDS]
    assert len(core) >= 12
    for doc in core:  # an unknown kind raises SchemaNotFoundError: only the CRDS listed may skip this
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)  # raises with the path of the first problem


def test_values_outside_the_schema_are_refused() -> None:
    with pytest.raises(helm.HelmValuesError, match="environment"):
        render("dev", {"environment": "staging"})
    with pytest.raises(helm.HelmValuesError):
        render("dev", {"workers": {"gpus": 1}})  # a typo of `worker`: unknown keys are refused


def test_workers_ask_for_a_gpu_and_tolerate_the_gpu_taint_and_api_pods_never_do(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    worker = pod_spec(one(docs, "Deployment", "pingvas-worker"))
    (container,) = worker["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1 and container["resources"]["requests"]["nvidia.com/gpu"] >= 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in worker["tolerations"]
    assert "karpenter.sh/capacity-type" not in worker["nodeSelector"]  # on-demand GPUs when Spot has none
    (spot,) = worker["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert spot["preference"]["matchExpressions"] == [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}]
    for name in ("pingvas-api",):
        api = pod_spec(one(docs, "Deployment", name))
        assert "tolerations" not in api
        assert all("nvidia.com/gpu" not in json.dumps(c.get("resources", {})) for c in api["containers"])
        arches = api["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]
        assert "arm64" in arches["values"]  # Graviton-capable
    migrate = one(docs, "Job", "pingvas-migrate")["spec"]["template"]["spec"]
    assert "tolerations" not in migrate and "nvidia.com/gpu" not in json.dumps(migrate)


def test_probes_hit_the_real_health_routes(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    from invokeai_saas.api.health import health_router

    routes = {route.path for route in health_router("api", []).routes}
    assert {"/healthz", "/readyz"} <= routes
    _, docs = rendered
    for name in ("pingvas-api", "pingvas-worker"):
        (container,) = pod_spec(one(docs, "Deployment", name))["containers"]
        port = container["args"][container["args"].index("--port") + 1]
        (declared,) = container["ports"]
        assert str(declared["containerPort"]) == port
        for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            assert container[probe]["httpGet"] == {"path": path, "port": declared["name"]}, (name, probe)


def test_the_ingress_upgrades_websockets_is_sticky_and_waits_for_long_streams(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    annotations = one(docs, "Ingress", "pingvas")["metadata"]["annotations"]
    nginx = {k.removeprefix("nginx.ingress.kubernetes.io/"): v for k, v in annotations.items()}
    assert nginx["proxy-http-version"] == "1.1"  # the Upgrade handshake needs HTTP/1.1 to the pod
    assert int(nginx["proxy-read-timeout"]) >= 3600 and int(nginx["proxy-send-timeout"]) >= 3600
    assert nginx["affinity"] == "cookie" and nginx["affinity-mode"] == "persistent"
    assert nginx["proxy-buffering"] == "off"


def test_keda_scales_workers_from_zero_on_the_environments_queue(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    env, docs = rendered
    scaled = one(docs, "ScaledObject", "pingvas-worker")["spec"]
    assert scaled["minReplicaCount"] == 0 and scaled["maxReplicaCount"] >= 1
    assert scaled["scaleTargetRef"]["name"] == "pingvas-worker"
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "postgresql" and f"FROM {env}.session_queue" in trigger["metadata"]["query"]
    assert "replicas" not in one(docs, "Deployment", "pingvas-worker")["spec"]  # KEDA owns the count
    auth = one(docs, "TriggerAuthentication", "pingvas-queue-db")["spec"]["secretTargetRef"][0]
    assert auth["name"] == "pingvas-keda"  # its own Secret, never mounted into the pods


def test_no_secret_is_in_plain_values_or_the_settings_configmap(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    env, docs = rendered
    for values_file in ("values.yaml", f"values-{env}.yaml"):
        settings = (yaml.safe_load((CHART / values_file).read_text()) or {}).get("settings", {})
        assert not [k for k in settings if SECRET_NAME.search(k)], (values_file, settings)
    config = one(docs, "ConfigMap", "pingvas-settings")["data"]
    assert not [k for k in config if SECRET_NAME.search(k)]
    keys = {d["secretKey"] for d in one(docs, "ExternalSecret", "pingvas-secrets")["spec"]["data"]}
    assert {"PINGVAS_DATABASE_URL", "PINGVAS_REDIS_URL", "PINGVAS_LEMONSQUEEZY_WEBHOOK_SECRET", "PINGVAS_SMTP_URL"} <= keys
    with pytest.raises(helm.HelmRenderError, match="is a secret"):
        render(env, {"settings": {**env_values(env)["settings"], "PINGVAS_DATABASE_URL": "postgresql://u:p@h/db"}})


def test_every_setting_the_chart_sets_is_one_the_app_reads(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    from invokeai_saas.core.settings import Settings

    known = {f"PINGVAS_{name.upper()}" for name in Settings.model_fields}
    env, docs = rendered
    set_here = set(one(docs, "ConfigMap", "pingvas-settings")["data"]) | set(env_values(env)["settings"]) | set(yaml.safe_load((CHART / "values.yaml").read_text())["secrets"]["keys"])
    assert set_here <= known, set_here - known


def test_dev_and_prod_differ_where_the_environment_does() -> None:
    dev, prod = render("dev"), render("prod")
    for env, docs in (("dev", dev), ("prod", prod)):
        config = one(docs, "ConfigMap", "pingvas-settings")["data"]
        assert config["PINGVAS_DB_SCHEMA"] == env
        assert config["PINGVAS_DB_APP_ROLE"] == f"pingvas_app_{env}"  # roles are cluster-wide: one per schema
        volume = one(docs, "PersistentVolume", f"pingvas-models-{env}")["spec"]["csi"]["volumeHandle"]
        assert volume.endswith(env_values(env)["models"]["efsAccessPointId"])
        assert one(docs, "ExternalSecret", "pingvas-secrets")["spec"]["data"][0]["remoteRef"]["key"] == f"pingvas/{env}/app"
    assert one(dev, "ConfigMap", "pingvas-settings")["data"]["PINGVAS_BRAND"] == "pingvas-dev"
    assert one(prod, "ConfigMap", "pingvas-settings")["data"]["PINGVAS_BRAND"] == "pingvas"
    assert one(dev, "ConfigMap", "pingvas-settings")["data"]["PINGVAS_LEMONSQUEEZY_TEST_MODE"] == "true"
    assert one(prod, "ConfigMap", "pingvas-settings")["data"].get("PINGVAS_LEMONSQUEEZY_TEST_MODE", "false") == "false"
    assert not [d for d in dev if d["kind"] == "NodePool"]  # the pools are cluster-wide: prod's release owns them
    pools = {d["metadata"]["name"]: d["spec"] for d in prod if d["kind"] == "NodePool"}
    gpu = pools["pingvas-gpu"]
    assert {"key": "nvidia.com/gpu", "effect": "NoSchedule"} in gpu["template"]["spec"]["taints"]
    assert "spot" in next(r["values"] for r in gpu["template"]["spec"]["requirements"] if r["key"] == "karpenter.sh/capacity-type")
    assert gpu["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"  # empty GPU nodes go: zero when idle
    general = pools["pingvas-general"]["template"]["spec"]["requirements"]
    assert next(r["values"] for r in general if r["key"] == "kubernetes.io/arch") == ["arm64"]


def test_the_migration_is_a_hook_that_runs_before_the_pods_with_what_it_needs(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    job = one(docs, "Job", "pingvas-migrate")
    weight = lambda d: int(d["metadata"]["annotations"]["helm.sh/hook-weight"])  # noqa: E731
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    chain = [("ServiceAccount", "pingvas"), ("SecretStore", "aws-secrets-manager"), ("ExternalSecret", "pingvas-secrets")]
    for kind, name in [*chain, ("ConfigMap", "pingvas-settings-migrate")]:
        needed = one(docs, kind, name)
        assert "pre-install" in needed["metadata"]["annotations"]["helm.sh/hook"] and weight(needed) < weight(job), (kind, name)
    # The account the store authenticates as, then the store, then the secret read through it.
    weights = [weight(one(docs, kind, name)) for kind, name in chain]
    assert weights == sorted(weights) and len(set(weights)) == len(weights), weights


def test_workers_have_time_to_hand_their_items_back_and_disruptions_are_bounded(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    assert pod_spec(one(docs, "Deployment", "pingvas-worker"))["terminationGracePeriodSeconds"] >= 60
    assert "preStop" in pod_spec(one(docs, "Deployment", "pingvas-api"))["containers"][0]["lifecycle"]
    assert one(docs, "PodDisruptionBudget", "pingvas-worker")["spec"]["maxUnavailable"] == 1
    assert one(docs, "HorizontalPodAutoscaler", "pingvas-api")["spec"]["minReplicas"] >= 1


def exported_metric_names() -> set[str]:
    from prometheus_client import REGISTRY

    import invokeai_saas.core.metrics as metrics

    names = set(REGISTRY._names_to_collectors)  # every sample name, _total/_bucket/_count included
    names |= {family.name for family in metrics.QueueCollector._families()}  # registered per app, read at scrape time
    return names


def test_alerts_and_the_dashboard_read_metrics_the_app_exports(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    exported = exported_metric_names()
    rules = [r for g in one(docs, "PrometheusRule", "pingvas")["spec"]["groups"] for r in g["rules"]]
    assert {"PingvasQueueBacklog", "PingvasDispatchSlow", "PingvasLeaseExpiries", "PingvasWorkerErrors", "PingvasWebhookFailures", "PingvasLedgerSilent"} <= {r["alert"] for r in rules}
    dashboard = json.loads(one(docs, "ConfigMap", "pingvas-dashboard")["data"]["pingvas.json"])
    exprs = [r["expr"] for r in rules] + [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bpingvas_[a-z_]+", e)}
    assert used and used <= exported, used - exported
    # The queue gauges are cluster-wide: every pod reports the same value, so a sum over pods multiplies it.
    for expr in exprs:
        assert not re.search(r"sum\s*(by\s*\([^)]*\)\s*)?\(\s*pingvas_queue_(depth|items_running)\b", expr), expr


def test_prometheus_scrapes_the_api_and_the_workers_whatever_argo_cd_does_to_the_instance_label(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    wanted = one(docs, "ServiceMonitor", "pingvas")["spec"]["selector"]["matchLabels"]
    assert "app.kubernetes.io/instance" not in wanted  # Argo CD's label tracking rewrites it to the Application name
    for name in ("pingvas-api", "pingvas-worker"):
        labels = one(docs, "Service", name)["metadata"]["labels"]
        assert wanted.items() <= labels.items(), (name, wanted, labels)


def test_alerts_and_the_dashboard_name_their_environment(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    env, docs = rendered
    rules = [r for g in one(docs, "PrometheusRule", "pingvas")["spec"]["groups"] for r in g["rules"]]
    assert {r["labels"]["environment"] for r in rules} == {env}
    dashboard = json.loads(one(docs, "ConfigMap", "pingvas-dashboard")["data"]["pingvas.json"])
    assert dashboard["uid"] == f"pingvas-studio-{env}" and env in dashboard["title"]  # two releases, two dashboards
    silent = next(r["expr"] for r in rules if r["alert"] == "PingvasLedgerSilent")
    assert "or vector(0)" in silent  # fires even when no usage was ever charged (no series at all)


def test_the_hpa_alone_sets_the_api_pods_count(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    """A count in the Deployment would fight the HPA: Argo CD's self-heal would reset it on every sync."""
    _, docs = rendered
    assert "replicas" not in one(docs, "Deployment", "pingvas-api")["spec"]
    assert one(docs, "HorizontalPodAutoscaler", "pingvas-api")["spec"]["scaleTargetRef"]["name"] == "pingvas-api"


def test_no_network_allowed_to_the_admin_api_is_a_trusted_proxy(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    """A client inside a trusted proxy range chooses the address the app sees (X-Forwarded-For): were the VPN's
    ranges trusted, a VPN client could pose as anyone for the rate limits."""
    _, docs = rendered
    config = one(docs, "ConfigMap", "pingvas-settings")["data"]
    proxies = [ipaddress.ip_network(n) for n in config["PINGVAS_TRUSTED_PROXIES"].split(",") if n.strip()]
    admins = [ipaddress.ip_network(n) for n in config["PINGVAS_ADMIN_ALLOWED_CIDRS"].split(",") if n.strip()]
    assert proxies and admins
    assert not [(p, a) for p in proxies for a in admins if p.version == a.version and p.overlaps(a)]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_argo_cd_follows_the_chart_with_the_environments_values(env: str) -> None:
    app = yaml.safe_load((ROOT / "deploy" / "argocd" / f"pingvas-{env}.yaml").read_text())
    source = app["spec"]["source"]
    assert (ROOT / source["path"]) == CHART
    assert source["helm"]["valueFiles"] == [f"values-{env}.yaml"] and (CHART / f"values-{env}.yaml").is_file()
    assert app["spec"]["destination"]["namespace"] == NAMESPACES[env]
    assert app["spec"]["syncPolicy"]["automated"]["selfHeal"] is True


def test_links_in_e_mails_lead_to_the_studios_own_host_and_mail_comes_from_its_domain(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    env, docs = rendered
    host = env_values(env)["ingress"]["host"]
    for name in ("pingvas-settings", "pingvas-settings-migrate"):
        config = one(docs, "ConfigMap", name)["data"]
        assert config["PINGVAS_PUBLIC_URL"] == f"https://{host}", name
        # The SES identity Terraform creates is the ingress host's domain (mail_domain).
        assert re.fullmatch(rf"[^<>]+ <no-reply@{re.escape(host)}>", config["PINGVAS_MAIL_FROM"]), config["PINGVAS_MAIL_FROM"]
        assert config["PINGVAS_EMAIL_VERIFICATION"] == "required" and config["PINGVAS_MAIL_RATE_LIMIT"] == "5/hour"
        assert "PINGVAS_SMTP_URL" not in config  # the SMTP password travels in the Secret only


def test_a_public_url_set_in_values_wins_over_the_ingress_host() -> None:
    settings = env_values("dev")["settings"] | {"PINGVAS_PUBLIC_URL": "https://studio.example.org"}
    config = one(render("dev", {"settings": settings}), "ConfigMap", "pingvas-settings")["data"]
    assert config["PINGVAS_PUBLIC_URL"] == "https://studio.example.org"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PINGVAS_EMAIL_VERIFICATION", "maybe"),
        ("PINGVAS_PUBLIC_URL", "https://studio.pingvas.example/"),  # links would get a double slash
        ("PINGVAS_PUBLIC_URL", "studio.pingvas.example"),
        ("PINGVAS_MAIL_RATE_LIMIT", "five an hour"),
        ("PINGVAS_MAIL_FROM", "Pingvas Studio"),
    ],
)
def test_mail_settings_outside_the_schema_are_refused(name: str, value: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=name):
        render("prod", {"settings": env_values("prod")["settings"] | {name: value}})
