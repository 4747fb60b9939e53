#!/usr/bin/python3
"""The Kubernetes manifests of deploy/kubernetes/ against the binary they run.

Usage: test_kubernetes_manifests.py BINARY SOURCE_DIR [MANIFEST_DIR]

No cluster runs here, so what can be checked without one is: every YAML document parses and has
apiVersion, kind and metadata.name; the kustomization lists every file; selectors select; the
stubborn container runs the binary the Dockerfile installs, with only flags `stubborn --help`
lists; the ConfigMap it mounts passes `stubborn --check`; every port of its probes, container and
Service is one the config listens on (the main listener or [admin] listen), and the HTTP probes
ask the admin prefix + /status on the admin port; the [cluster] redis URL names the Redis
Service's host and port. Then each of a few broken copies (made in memory) must be refused, so
the check is known to fail when it should. Needs PyYAML: Debian's /usr/bin/python3.
"""
import copy
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml

BINARY, SOURCE = sys.argv[1], sys.argv[2]
MANIFESTS = sys.argv[3] if len(sys.argv) > 3 else os.path.join(SOURCE, "deploy", "kubernetes")

KINDS = {("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"),
         ("kustomize.config.k8s.io/v1beta1", "Kustomization")}
# Flags after which the server does not serve (it prints or checks, then exits).
EXITING_FLAGS = {"--check", "--print-schema", "--version", "-h", "--help"}

failures = []
passed = 0


def check(name, ok, detail=""):
    global passed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failures.append(name)
        print("FAIL " + name + ("\n     " + str(detail) if detail else ""))


def help_flags():
    """{flag: takes a value} from `stubborn --help`: lines like `  --listen HOST:PORT  text`."""
    out = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=30).stdout
    flags = {}
    for line in out.splitlines():
        m = re.match(r"^\s+(?:(-\w), )?(--[a-z][a-z-]*)( [A-Z][A-Z0-9_.:]*)?(\s|$)", line)
        if m:
            flags[m.group(2)] = bool(m.group(3))
            if m.group(1):
                flags[m.group(1)] = bool(m.group(3))
    return flags


def dockerfile_image():
    """(the installed binary's path, ENTRYPOINT, CMD) of the runtime stage of the Dockerfile."""
    text = open(os.path.join(SOURCE, "Dockerfile")).read()
    runtime = text[text.rindex("\nFROM "):]
    binary = re.search(r"^COPY --from=\S+ \S+/stubborn (\S+)$", runtime, re.M).group(1)
    entrypoint = yaml.safe_load(re.search(r"^ENTRYPOINT (\[.*\])$", runtime, re.M).group(1))
    cmd = yaml.safe_load(re.search(r"^CMD (\[.*\])$", runtime, re.M).group(1))
    return binary, entrypoint, cmd


def load_manifests(folder):
    """{file name: [documents]}; a file that does not parse is reported and left out."""
    files = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith((".yaml", ".yml")):
            continue
        try:
            with open(os.path.join(folder, name)) as f:
                files[name] = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            check(f"{name} is YAML", False, e)
    return files


def port_of(listen):
    return int(str(listen).rsplit(":", 1)[1])


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def problems(files, flags, image, work):
    """Everything wrong with the manifests: a list of strings, empty when they are right."""
    found = []
    docs = []
    for name, documents in files.items():
        for i, d in enumerate(documents):
            where = f"{name} document {i + 1}"
            if not isinstance(d, dict):
                found.append(f"{where}: not a mapping")
                continue
            if (d.get("apiVersion"), d.get("kind")) not in KINDS:
                found.append(f"{where}: apiVersion/kind {d.get('apiVersion')}/{d.get('kind')} "
                             "is not one this check knows")
                continue
            if d["kind"] != "Kustomization":
                name_ok = isinstance(d.get("metadata"), dict) and \
                    re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", str(d["metadata"].get("name")))
                if not name_ok:
                    found.append(f"{where}: metadata.name missing or not a DNS label")
                    continue
            docs.append((name, d))

    kustomizations = [d for _, d in docs if d["kind"] == "Kustomization"]
    if len(kustomizations) != 1:
        found.append(f"{len(kustomizations)} kustomizations, wanted 1")
    else:
        listed = kustomizations[0].get("resources") or []
        others = sorted(n for n in files if n not in ("kustomization.yaml", "kustomization.yml"))
        if sorted(listed) != others:
            found.append(f"kustomization resources {listed} are not the files {others}")

    def of_kind(kind):
        return [d for _, d in docs if d["kind"] == kind]

    deployments, services = of_kind("Deployment"), of_kind("Service")
    configmaps = {d["metadata"]["name"]: d for d in of_kind("ConfigMap")}
    for d in deployments:
        spec = d.get("spec", {})
        template_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
        if not labels_match(spec.get("selector", {}).get("matchLabels"), template_labels):
            found.append(f"Deployment {d['metadata']['name']}: its selector does not select "
                         "its pods")

    def container_of(d, image_name):
        for c in d["spec"]["template"]["spec"].get("containers", []):
            if str(c.get("image", "")).rsplit("/", 1)[-1].split(":")[0] == image_name:
                return c
        return None

    def selected_deployment(service):
        selector = service.get("spec", {}).get("selector")
        for d in deployments:
            if labels_match(selector, d["spec"]["template"]["metadata"].get("labels", {})):
                return d
        return None

    def container_port(c, port):
        """A probe's or Service's port (a number or a container port's name) as a number."""
        if isinstance(port, int):
            return port
        for p in c.get("ports", []):
            if p.get("name") == port:
                return p.get("containerPort")
        return None

    stubborn = [d for d in deployments if container_of(d, "stubborn")]
    if len(stubborn) != 1:
        return found + [f"{len(stubborn)} Deployments run the stubborn image, wanted 1"]
    deployment = stubborn[0]
    c = container_of(deployment, "stubborn")
    binary, entrypoint, cmd = image

    # The command line, as Kubernetes builds it from the image's ENTRYPOINT and CMD.
    argv = (c["command"] + c.get("args", [])) if "command" in c else \
        entrypoint + c.get("args", cmd)
    if not argv or argv[0] != binary:
        found.append(f"the container runs {argv[:1]}, not the image's {binary}")
    listen, positional, i = None, [], 1
    while i < len(argv):
        arg = str(argv[i])
        if arg.startswith("-"):
            if arg not in flags:
                found.append(f"the container's argument {arg} is not a flag of stubborn --help")
            elif arg in EXITING_FLAGS:
                found.append(f"the container's argument {arg} makes stubborn exit, not serve")
            elif flags[arg]:
                if i + 1 >= len(argv):
                    found.append(f"the container's {arg} has no value")
                elif arg == "--listen":
                    listen = str(argv[i + 1])
                i += 1
        else:
            positional.append(arg)
        i += 1

    # The config: the ConfigMap mounted where the positional arguments point.
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
    mounted = {}
    for m in c.get("volumeMounts", []):
        v = volumes.get(m["name"])
        if v and "configMap" in v:
            mounted[m["mountPath"].rstrip("/")] = v["configMap"]["name"]
    if not positional:
        found.append("the container names no config")
    config_files = []
    for p in positional:
        parent = p.rstrip("/") if p.rstrip("/") in mounted else os.path.dirname(p)
        cm = configmaps.get(mounted.get(parent))
        if not cm:
            found.append(f"the config {p} is not in a mounted ConfigMap of these manifests")
            continue
        data = cm.get("data", {})
        keys = sorted(k for k in data if k.endswith(".toml")) if p.rstrip("/") in mounted \
            else [os.path.basename(p)] if os.path.basename(p) in data else []
        if not keys:
            found.append(f"the ConfigMap {cm['metadata']['name']} has no TOML for {p}")
        config_files += [(k, data[k]) for k in keys]
    if not config_files:
        return found
    folder = tempfile.mkdtemp(dir=work)
    for key, text in config_files:
        with open(os.path.join(folder, key), "w") as f:
            f.write(text)
    checked = subprocess.run([BINARY, "--check", folder + "/"], capture_output=True, text=True,
                             timeout=30)
    if checked.returncode != 0:
        found.append("the ConfigMap's TOML fails stubborn --check: " + checked.stdout +
                     checked.stderr)
        return found
    tables = {}
    for _, text in config_files:
        for section, values in tomllib.loads(text).items():
            if isinstance(values, dict):
                tables.setdefault(section, {}).update(values)
    main_listen = listen or tables.get("server", {}).get("listen", "127.0.0.1:8080")
    admin = tables.get("admin", {})
    if admin.get("enabled") is False:
        found.append("[admin] enabled = false: the probes have no /status to ask")
    if not main_listen.startswith("0.0.0.0:") and not main_listen.startswith("[::]:"):
        found.append(f"stubborn listens on {main_listen}, which other pods cannot reach")
    main_port = port_of(main_listen)
    admin_port = port_of(admin["listen"]) if "listen" in admin else main_port
    listening = {main_port, admin_port}
    status_path = admin.get("prefix", "/__admin") + "/status"

    for p in c.get("ports", []):
        if p.get("containerPort") not in listening:
            found.append(f"container port {p.get('containerPort')} is not one the config "
                         f"listens on ({sorted(listening)})")
    probes = {k: c[k] for k in ("readinessProbe", "livenessProbe", "startupProbe") if k in c}
    if "readinessProbe" not in probes or "httpGet" not in probes["readinessProbe"]:
        found.append(f"no readinessProbe asking {status_path}")
    if "livenessProbe" not in probes:
        found.append("no livenessProbe")
    for kind, probe in probes.items():
        action = probe.get("httpGet") or probe.get("tcpSocket")
        if not action:
            found.append(f"{kind}: neither httpGet nor tcpSocket")
            continue
        port = container_port(c, action.get("port"))
        if port not in listening:
            found.append(f"{kind} asks port {action.get('port')} ({port}), not one the config "
                         f"listens on ({sorted(listening)})")
        if "httpGet" in probe:
            if action.get("path") != status_path:
                found.append(f"{kind} asks {action.get('path')}, not {status_path}")
            if port != admin_port:
                found.append(f"{kind} asks port {port}; the admin API is on {admin_port}")

    for s in services:
        target = selected_deployment(s)
        if target is None:
            found.append(f"Service {s['metadata']['name']} selects no Deployment here")
            continue
        if target is not deployment:
            continue
        for p in s["spec"].get("ports", []):
            port = container_port(c, p.get("targetPort", p.get("port")))
            if port not in listening:
                found.append(f"Service {s['metadata']['name']} port {p.get('port')} targets "
                             f"{p.get('targetPort')} ({port}), not one the config listens on "
                             f"({sorted(listening)})")

    # [cluster] redis: host:port of the Redis Service, which reaches a Redis container.
    redis_url = tables.get("cluster", {}).get("redis")
    m = re.fullmatch(r"redis://(?:[^@/]*@)?([^:/@]+)(?::(\d+))?(?:/\d*)?", str(redis_url))
    if not m:
        found.append(f"[cluster] redis {redis_url!r} is not a redis://host:port URL")
        return found
    host, redis_port = m.group(1), int(m.group(2) or 6379)
    service = next((s for s in services if host == s["metadata"]["name"] or
                    host.startswith(s["metadata"]["name"] + ".")), None)
    if service is None:
        found.append(f"[cluster] redis host {host} is no Service of these manifests")
        return found
    ports = [p for p in service["spec"].get("ports", []) if p.get("port") == redis_port]
    redis = selected_deployment(service)
    redis_container = redis and container_of(redis, "redis")
    if not ports:
        found.append(f"[cluster] redis port {redis_port} is not a port of Service "
                     f"{service['metadata']['name']}")
    elif not redis_container:
        found.append(f"Service {service['metadata']['name']} selects no Redis container")
    elif container_port(redis_container, ports[0].get("targetPort", redis_port)) != 6379:
        found.append(f"Service {service['metadata']['name']} does not reach Redis's port 6379")
    elif redis_container.get("args", [])[:4] != ["--save", "", "--appendonly", "no"]:
        found.append("Redis persists (its args are not --save \"\" --appendonly no)")
    return found


def broken_copies(files):
    """(what is broken, a fragment of the problem expected, the broken files)."""
    def edit(change):
        broken = copy.deepcopy(files)
        change(broken)
        return broken

    def stubborn_container(f):
        return f["stubborn.yaml"][0]["spec"]["template"]["spec"]["containers"][0]

    def config(f, old, new):
        data = f["stubborn-config.yaml"][0]["data"]
        assert old in data["stubborn.toml"], old
        data["stubborn.toml"] = data["stubborn.toml"].replace(old, new)

    return [
        ("a flag --help does not list",
         "not a flag", edit(lambda f: stubborn_container(f)["args"].insert(0, "--listn"))),
        ("a readiness probe on the main port", "the admin API is on",
         edit(lambda f: stubborn_container(f)["readinessProbe"]["httpGet"].update(port="http"))),
        ("a probe path outside the admin prefix", "not /__admin/status",
         edit(lambda f: stubborn_container(f)["livenessProbe"]["httpGet"].update(
             path="/status"))),
        ("a Service port the config does not listen on", "not one the config listens on",
         edit(lambda f: f["stubborn.yaml"][1]["spec"]["ports"][0].update(targetPort=8081))),
        ("a config key stubborn does not know", "fails stubborn --check",
         edit(lambda f: config(f, "journal_max =", "journal_maxx ="))),
        ("a Redis URL on another host", "no Service",
         edit(lambda f: config(f, "redis://redis:6379", "redis://cache:6379"))),
        ("a Redis URL on another port", "not a port of Service",
         edit(lambda f: config(f, "redis://redis:6379", "redis://redis:6380"))),
        ("a document without a kind", "apiVersion/kind",
         edit(lambda f: f["redis.yaml"][1].pop("kind"))),
        ("a file the kustomization does not list", "kustomization resources",
         edit(lambda f: f.update({"extra.yaml": copy.deepcopy(f["redis.yaml"])}))),
    ]


def main():
    flags = help_flags()
    check("stubborn --help lists --listen and --log-level",
          flags.get("--listen") is True and flags.get("--log-level") is True, flags)
    image = dockerfile_image()
    files = load_manifests(MANIFESTS)
    check("deploy/kubernetes holds the kustomization, Redis and stubborn",
          {"kustomization.yaml", "redis.yaml", "stubborn.yaml", "stubborn-config.yaml"}
          <= set(files), sorted(files))
    with tempfile.TemporaryDirectory(prefix="stubborn-k8s-") as work:
        found = problems(files, flags, image, work)
        check("the manifests are consistent with the binary and its config", not found,
              "\n     ".join(found))
        if not failures and MANIFESTS == os.path.join(SOURCE, "deploy", "kubernetes"):
            for what, expected, broken in broken_copies(files):
                found = problems(broken, flags, image, work)
                check(f"refused: {what}", any(expected in p for p in found),
                      f"wanted a problem with {expected!r}, got {found}")
    print(f"{passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
