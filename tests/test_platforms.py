"""The README's two commands resolve on the developers' Apple Silicon laptops (macOS, Python 3.12) as
well as on Linux, and the embedded default generates on Apple's GPU (`mps`) when there is one.

No Mac is at hand, so the proof is in three parts: our torch pins, read with each platform's markers,
fall inside InvokeAI 6.14.2's own torch range for that platform (offline); uv, which evaluates markers
for a target platform (pip evaluates them for the machine it runs on, whatever `--platform` says),
resolves the whole project for macOS arm64 from PyPI and finds a wheel for every package; and InvokeAI's
device choice, under our configuration, picks `mps` when torch reports it.
"""

import json
import socket
import subprocess
import sys
import tomllib
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"

LINUX_X86 = {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
LINUX_ARM = {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"}
MAC_ARM = {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"}
PLATFORMS = {"linux-x86_64": LINUX_X86, "linux-aarch64": LINUX_ARM, "macos-arm64": MAC_ARM}


def marker_env(platform: dict[str, str], python: str) -> dict[str, str]:
    return {**platform, "python_version": python, "python_full_version": f"{python}.0", "extra": "",
            "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def applicable(requirements: list[str], env: dict[str, str], name: str) -> list[Requirement]:
    parsed = [Requirement(line) for line in requirements]
    return [r for r in parsed if r.name == name and (r.marker is None or r.marker.evaluate(env))]


def our_dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


@pytest.mark.parametrize("python", ["3.11", "3.12"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_torch_pins_fall_inside_invokeais_range(platform: str, python: str) -> None:
    env = marker_env(PLATFORMS[platform], python)
    for package in ("torch", "torchvision"):
        ours = applicable(our_dependencies(), env, package)
        assert len(ours) == 1, f"{platform}: one {package} pin expected, found {ours}"
        (pinned,) = [s.version for s in ours[0].specifier if s.operator == "=="]
        for theirs in applicable(requires("invokeai") or [], env, package):
            assert theirs.specifier.contains(pinned), f"{platform}: our {package}=={pinned} is outside InvokeAI's {theirs}"
    if platform == "macos-arm64":
        assert str(applicable(our_dependencies(), env, "torch")[0].specifier) == "==2.7.1"


def locked(path: Path) -> dict[str, str]:
    pins = [line.split("==") for line in path.read_text().splitlines() if "==" in line and not line.startswith((" ", "#"))]
    return {canonicalize_name(name): version.strip() for name, version in pins}


def test_the_macos_lock_satisfies_the_project_and_invokeai_offline() -> None:
    """requirements/macos-arm64-py312.txt (`make macos-lock`, resolved by uv for macOS) holds torch 2.7.x and
    meets every requirement of ours and of InvokeAI's that applies on macOS: checked here without a network."""
    lock = locked(ROOT / "requirements" / "macos-arm64-py312.txt")
    assert (lock["torch"], lock["torchvision"], lock["invokeai"]) == ("2.7.1", "0.22.1", "6.14.2")
    assert "bitsandbytes" not in lock
    mac = marker_env(MAC_ARM, "3.12")
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*ours["dependencies"], *ours["optional-dependencies"]["test"], *(requires("invokeai") or [])]
    unmet = []
    for line in wanted:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(mac):
            continue
        name = canonicalize_name(requirement.name)
        if name not in lock or not requirement.specifier.contains(lock[name], prereleases=True):
            unmet.append(f"{requirement} (locked: {lock.get(name)})")
    assert not unmet, unmet


def pypi_reachable() -> bool:
    try:
        for host in ("pypi.org", "files.pythonhosted.org"):
            socket.create_connection((host, 443), timeout=10).close()
        return True
    except OSError:
        return False


def uv(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    command = [str(UV), "pip", *args, "--cache-dir", str(cache), "--no-config"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("python", ["3.11", "3.12"])
def test_the_project_resolves_for_macos_arm64(python: str, tmp_path: Path) -> None:
    if not pypi_reachable():
        pytest.skip("PyPI is not reachable from here: the resolution for macOS could not be checked")
    cache = Path.home() / ".cache" / "pingvas-uv"
    pins = tmp_path / "macos-arm64.txt"
    target = ["--python-platform", "aarch64-apple-darwin", "--python-version", python]
    compiled = uv("compile", "pyproject.toml", "--extra", "test", *target, "--no-header", "-o", str(pins), cache=cache)
    assert compiled.returncode == 0, compiled.stderr
    versions = dict(line.split("==") for line in pins.read_text().splitlines() if "==" in line and not line.startswith(" "))
    assert versions["torch"] == "2.7.1" and versions["torchvision"] == "0.22.1", versions
    assert versions["invokeai"] == "6.14.2"
    assert "bitsandbytes" not in versions  # InvokeAI leaves it out on macOS
    # Every pinned package has a macOS arm64 wheel for this Python: nothing would need building there.
    wheels = uv("install", "--dry-run", "--only-binary", ":all:", "--no-deps", "-r", str(pins), *target,
                "--target", str(tmp_path / "site"), cache=cache)
    assert wheels.returncode == 0, wheels.stderr
    assert f"Would install {len(versions)} packages" in wheels.stderr, wheels.stderr


def test_the_embedded_default_picks_mps_when_present(tmp_path: Path) -> None:
    """Our configuration leaves InvokeAI's device choice on `auto`: with no CUDA and an `mps` device,
    both the single device and the worker's generation devices are `mps`. (torch's answers are
    stubbed: this machine has no Apple GPU.)"""
    probe = f"""
import json, torch
import invokeai.backend.util.devices as devices
from invokeai_saas.wiring.app import configure_invokeai
from invokeai_saas.core.settings import Settings
from invokeai.app.services.config.config_default import get_config

configure_invokeai(Settings(data_dir={str(tmp_path)!r}))
before = str(devices.TorchDevice.choose_torch_device())
torch.cuda.is_available = lambda: False
devices._xpu_is_available = lambda: False
torch.backends.mps.is_available = lambda: True
config = get_config()
print(json.dumps({{
    "before": before,
    "device": str(devices.TorchDevice.choose_torch_device()),
    "generation": [str(d) for d in devices.TorchDevice.get_generation_devices(config.generation_devices)],
    "settings": [config.device, config.generation_devices],
}}))
"""
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    chosen = json.loads(run.stdout.strip().splitlines()[-1])
    assert chosen["before"] == "cpu"  # this machine: no CUDA, no mps
    assert chosen["device"] == "mps" and chosen["generation"] == ["mps"], chosen
    assert chosen["settings"] == ["auto", "auto"], chosen
