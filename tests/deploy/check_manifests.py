#!/usr/bin/env python3
"""Check deploy/kubernetes and deploy/container/Containerfile against each
other, the engine's config rules and the repository, without a cluster or a
container engine.

    check_manifests.py kubernetes REPO      the manifests
    check_manifests.py container REPO       the Containerfile
    check_manifests.py engine-config REPO   print the ConfigMap's engine.json

Prints one line per problem and exits 1 when there is any, 2 on a usage
error, and 77 when PyYAML (Debian's python3-yaml) is missing.
"""
import json
import os
import re
import shlex
import sys

try:
    import yaml
except ImportError:
    print("python3-yaml is not installed (scripts/install-deps test)")
    sys.exit(77)

MANIFESTS = {
    "configmap.yaml": [("v1", "ConfigMap")],
    "deployment.yaml": [("apps/v1", "Deployment"), ("v1", "Service")],
    "hpa.yaml": [("autoscaling/v2", "HorizontalPodAutoscaler")],
    "secret.yaml": [("v1", "Secret")],
}
CONFIG_KEY = "engine.json"
ENGINE = "/usr/local/bin/beamline-engine"

# The runtime package of each package of `scripts/install-deps run`, for
# Debian 12; None for a package only the build uses.
RUNTIME_PACKAGES = {
    "cmake": None, "make": None, "gcc": None, "g++": None, "pkg-config": None,
    "opencl-c-headers": None, "ocl-icd-opencl-dev": "ocl-icd-libopencl1",
    "liburing-dev": "liburing2", "libhwloc-dev": "libhwloc15", "libjansson-dev": "libjansson4",
    "libopenblas-dev": "libopenblas0-pthread", "libclblast-dev": "libclblast1",
    "pocl-opencl-icd": "pocl-opencl-icd", "libcurl4-openssl-dev": "libcurl4", "libpq-dev": "libpq5",
    "libsqlite3-dev": "libsqlite3-0", "libmicrohttpd-dev": "libmicrohttpd12", "libnats-dev": "libnats3.4",
    "libssl-dev": "libssl3", "zlib1g-dev": "zlib1g", "libsodium-dev": "libsodium23",
    "libxxhash-dev": "libxxhash0",
}


class Problems:
    def __init__(self):
        self.lines = []

    def add(self, where, message):
        self.lines.append(f"{where}: {message}")

    def finish(self):
        for line in self.lines:
            print(line)
        return 1 if self.lines else 0


def load_manifests(repo, problems):
    """Parse every manifest file; return {kind: document}."""
    docs = {}
    for name, expected in MANIFESTS.items():
        path = os.path.join(repo, "deploy", "kubernetes", name)
        try:
            with open(path, encoding="utf-8") as f:
                found = [d for d in yaml.safe_load_all(f) if d is not None]
        except (OSError, yaml.YAMLError) as e:
            problems.add(path, f"invalid YAML: {e}")
            continue
        kinds = [(d.get("apiVersion"), d.get("kind")) if isinstance(d, dict) else None for d in found]
        if kinds != expected:
            problems.add(path, f"expected the documents {expected} (apiVersion, kind), found {kinds}")
        for doc in found:
            if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict) and doc["metadata"].get("name"):
                docs[doc.get("kind")] = doc
            else:
                problems.add(path, "a document without metadata.name")
    return docs


def engine_config_text(configmap):
    return ((configmap or {}).get("data") or {}).get(CONFIG_KEY)


def split_listen(listen):
    """Split "HOST:PORT" or "[V6]:PORT" as the engine does; None if invalid."""
    host, sep, port = str(listen).rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def engine_container(pod):
    for c in pod.get("containers") or []:
        argv = (c.get("command") or [ENGINE]) + (c.get("args") or [])
        if argv[:2] == [ENGINE, "serve"]:
            return c, argv
    return None, None


def config_path(argv):
    return argv[argv.index("--config") + 1] if "--config" in argv[:-1] else None


def find_mount(container, path):
    """Return the deepest volumeMount that contains `path`, or None."""
    best = None
    for m in container.get("volumeMounts") or []:
        mount = m.get("mountPath", "").rstrip("/")
        if (path == mount or path.startswith(mount + "/")) and (best is None or len(mount) > len(best["mountPath"])):
            best = m
    return best


def volume_key(mount, path):
    """The key inside a configMap or secret volume that `path` names."""
    if mount.get("subPath"):
        return mount["subPath"]
    return path[len(mount["mountPath"].rstrip("/")) + 1:]


class Pod:
    def __init__(self, deployment, docs, problems):
        self.spec = (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        self.volumes = {v.get("name"): v for v in self.spec.get("volumes") or []}
        self.docs = docs
        self.problems = problems

    def check_source(self, where, container, path, want):
        """Check that `path` lies on a mounted volume with the file in it;
        `want` is "file" (read from a configMap or secret) or "writable"."""
        mount = find_mount(container, path)
        if mount is None:
            self.problems.add(where, f"{path} is on no volume mounted in container {container.get('name')}")
            return None
        volume = self.volumes.get(mount.get("name"))
        if volume is None:
            self.problems.add(where, f"container {container.get('name')} mounts volume {mount.get('name')}, "
                              "which the pod does not define")
            return None
        if want == "writable" and (mount.get("readOnly") or "emptyDir" not in volume and
                                   "persistentVolumeClaim" not in volume):
            self.problems.add(where, f"{path} must be writable, but volume {mount['name']} is read-only or not "
                              "an emptyDir or persistentVolumeClaim")
        for kind, ref in (("ConfigMap", "configMap"), ("Secret", "secret")):
            if ref in volume:
                self.check_key(where, kind, volume[ref], volume_key(mount, path))
        return volume

    def check_key(self, where, kind, ref, key):
        doc = self.docs.get(kind) or {}
        name = ref.get("name") if kind == "ConfigMap" else ref.get("secretName")
        if doc.get("metadata", {}).get("name") != name:
            self.problems.add(where, f"the volume names {kind} {name}, which the manifests do not define")
            return
        items = {i.get("path"): i.get("key") for i in ref.get("items") or []}
        key = items.get(key, key) if items else key
        if key not in (doc.get("data") or {}) and key not in (doc.get("stringData") or {}):
            self.problems.add(where, f"{kind} {name} has no key {key}")


def check_probes(problems, container, port):
    names = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    if port not in names.values():
        problems.add("deployment.yaml", f"the engine container declares no containerPort {port} (admin.listen)")
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        target = names.get(get.get("port"), get.get("port"))
        if get.get("path") != path or target != port or get.get("scheme", "HTTP") != "HTTP":
            problems.add("deployment.yaml", f"{probe} must be an HTTP GET of {path} on port {port}, got {get}")


def check_resources(problems, pod):
    for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (res.get(part) or {}).get(resource):
                    problems.add("deployment.yaml", f"container {c.get('name')} sets no {part}.{resource}")


def check_admin(problems, pod, container, admin, secret_file):
    """The admin listener reachable by the kubelet, and its token file
    made from the Secret at mode 0600 (the engine rejects any other)."""
    listen = split_listen(admin.get("listen", ""))
    if listen is None:
        problems.add("configmap.yaml", f"admin.listen is not HOST:PORT: {admin.get('listen')}")
        return None
    host, port = listen
    if host not in ("0.0.0.0", "::"):
        problems.add("configmap.yaml", f"admin.listen binds {host}: the kubelet probes the pod's IP, so the "
                     "endpoint must listen on 0.0.0.0 or [::]")
    if admin.get("allow_non_loopback") is not True:
        problems.add("configmap.yaml", "admin.allow_non_loopback must be true, or the engine rejects a "
                     "non-loopback admin.listen")
    token = admin.get("token_file")
    if not token:
        problems.add("configmap.yaml", "admin.token_file is missing")
        return port
    volume = pod.check_source("admin.token_file", container, token, "file")
    if volume is None:
        return port
    if "secret" in volume and pod.spec.get("securityContext", {}).get("fsGroup") is not None:
        problems.add("deployment.yaml", f"{token} is a Secret file, which fsGroup makes group-readable; the "
                     "engine rejects it")
    if "emptyDir" in volume:
        check_token_copy(problems, pod, find_mount(container, token), token, secret_file)
    return port


def check_token_copy(problems, pod, token_mount, token, secret_file):
    """An init container must copy the Secret's key to the token file,
    which the engine container reads through `token_mount`."""
    volume = token_mount["name"]
    inside = token[len(token_mount["mountPath"].rstrip("/")):]
    for c in pod.spec.get("initContainers") or []:
        argv = (c.get("command") or []) + (c.get("args") or [])
        mount = next((m for m in c.get("volumeMounts") or [] if m.get("name") == volume), None)
        if not mount or not argv or argv[0] != "install":
            continue
        if argv[1:3] != ["-m", "0600"] or len(argv) != 5:
            problems.add("deployment.yaml", f"init container {c.get('name')} must run install -m 0600 SRC DEST, "
                         f"got {argv}")
            return
        dest = argv[4]
        if find_mount(c, dest) is not mount or dest[len(mount["mountPath"].rstrip("/")):] != inside:
            problems.add("deployment.yaml", f"init container {c.get('name')} writes {dest}, not the token file "
                         f"{token}")
        source = pod.check_source(f"init container {c.get('name')}", c, argv[3], "file")
        if source is not None and "secret" not in source:
            problems.add("deployment.yaml", f"init container {c.get('name')} copies {argv[3]}, which is not "
                         f"from Secret {secret_file}")
        return
    problems.add("deployment.yaml", f"no init container runs install into volume {volume}, so {token} "
                 "does not exist")


def check_engine_paths(problems, pod, container, config):
    """Every file the config names is on a volume of the engine container."""
    nats, engine = config.get("nats") or {}, config.get("engine") or {}
    files = [(f"nats.{k}", nats.get(k)) for k in ("creds_file", "nkey_seed_file")]
    files += [(f"nats.tls.{k}", (nats.get("tls") or {}).get(k)) for k in ("ca_file", "cert_file", "key_file")]
    files += [(f"engine.{k}", engine.get(k)) for k in ("quotas", "placement")]
    for key, path in files:
        if path:
            pod.check_source(key, container, path, "file")

    data = engine.get("data_dir")
    if not data:
        problems.add("configmap.yaml", "engine.data_dir is missing (the default is the read-only working folder)")
    elif pod.check_source("engine.data_dir", container, data, "writable") is not None and \
            find_mount(container, data)["mountPath"].rstrip("/") != data.rstrip("/"):
        # A fresh volume is an empty folder, and serve opens data_dir without creating it.
        problems.add("configmap.yaml", f"engine.data_dir {data} must be a volume's mountPath, since the volume "
                     "hides the image's folders and the engine does not create it")
    state = engine.get("state_dir")
    if state:
        pod.check_source("engine.state_dir", container, state, "writable")


def check_nats(problems, pod, nats):
    urls = nats.get("urls")
    for url in [urls] if isinstance(urls, str) else urls or []:
        match = re.fullmatch(r"(nats|tls)://([^:/@]+):(\d+)", str(url))
        if not match:
            problems.add("configmap.yaml", f"nats.urls: expected nats://HOST:PORT, got {url}")
            continue
        scheme, host = match.group(1), match.group(2)
        sidecar = any("nats" in str(c.get("image")) for c in pod.spec.get("containers") or [])
        if host in ("localhost", "127.0.0.1", "::1") and not sidecar:
            problems.add("configmap.yaml", f"nats.urls: {url} is the pod's own loopback, and the pod runs "
                         "no NATS server")
        if scheme == "tls" and not nats.get("tls"):
            problems.add("configmap.yaml", f"nats.urls: {url} needs a nats.tls section with the CA file")


def check_deployment(problems, docs, config):
    deployment = docs.get("Deployment")
    pod = Pod(deployment, docs, problems)
    container, argv = engine_container(pod.spec)
    if container is None:
        problems.add("deployment.yaml", f"no container runs {ENGINE} serve")
        return
    labels = (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    for what, selector in (("Deployment selector", deployment["spec"].get("selector", {}).get("matchLabels")),
                           ("Service selector", (docs.get("Service") or {}).get("spec", {}).get("selector"))):
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.add("deployment.yaml", f"the {what} {selector} does not match the pod labels {labels}")

    path = config_path(argv)
    if path is None:
        problems.add("deployment.yaml", f"the engine container runs {argv}, without --config PATH")
    else:
        volume = pod.check_source("--config", container, path, "file")
        if volume is not None and "configMap" not in volume:
            problems.add("deployment.yaml", f"--config {path} is not from the ConfigMap")

    port = check_admin(problems, pod, container, config.get("admin") or {},
                       docs.get("Secret", {}).get("metadata", {}).get("name"))
    if port is not None:
        check_probes(problems, container, port)
        annotations = (deployment["spec"]["template"].get("metadata") or {}).get("annotations") or {}
        if annotations.get("prometheus.io/port") != str(port):
            problems.add("deployment.yaml", f"the prometheus.io/port annotation is not the admin port {port}")
    check_resources(problems, pod.spec)
    check_engine_paths(problems, pod, container, config)
    check_nats(problems, pod, config.get("nats") or {})

    drain = (config.get("nats") or {}).get("drain_timeout_ms", 30000) / 1000
    if pod.spec.get("terminationGracePeriodSeconds", 30) <= drain:
        problems.add("deployment.yaml", f"terminationGracePeriodSeconds must exceed nats.drain_timeout_ms ({drain} s)")
    if pod.spec.get("securityContext", {}).get("readOnlyRootFilesystem") or \
            (container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
        for env in container.get("env") or []:
            if env.get("name", "").endswith("_DIR") and str(env.get("value", "")).startswith("/"):
                pod.check_source(f"env {env['name']}", container, env["value"], "writable")
    images = {c.get("image") for c in (pod.spec.get("initContainers") or []) + pod.spec.get("containers", [])}
    if len(images) != 1:
        problems.add("deployment.yaml", f"the init container runs the engine image's install, expected one image, "
                     f"got {sorted(map(str, images))}")


def check_hpa(problems, docs):
    spec = (docs.get("HorizontalPodAutoscaler") or {}).get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    name = (docs.get("Deployment") or {}).get("metadata", {}).get("name")
    if (ref.get("apiVersion"), ref.get("kind"), ref.get("name")) != ("apps/v1", "Deployment", name):
        problems.add("hpa.yaml", f"scaleTargetRef {ref} does not name the apps/v1 Deployment {name}")
    if not 1 <= spec.get("minReplicas", 1) <= spec.get("maxReplicas", 0):
        problems.add("hpa.yaml", "expected 1 <= minReplicas <= maxReplicas")


def kubernetes(repo):
    problems = Problems()
    docs = load_manifests(repo, problems)
    text = engine_config_text(docs.get("ConfigMap"))
    try:
        config = json.loads(text) if text else None
    except json.JSONDecodeError as e:
        problems.add("configmap.yaml", f"{CONFIG_KEY} is not JSON: {e}")
        config = None
    if not isinstance(config, dict):
        problems.add("configmap.yaml", f"data.{CONFIG_KEY} is missing or not a JSON object")
    elif "Deployment" in docs:
        check_deployment(problems, docs, config)
    check_hpa(problems, docs)
    return problems.finish()


def read_containerfile(path):
    """The instructions as (KEYWORD, text), continuation lines joined."""
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", text, re.M)]


def stages(instructions):
    """Split the instructions at each FROM: [(image, name, [instructions])]."""
    result = []
    for keyword, text in instructions:
        if keyword == "FROM":
            words = text.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append((words[0], name, []))
        elif result:
            result[-1][2].append((keyword, text))
    return result


def install_deps_packages(repo):
    """The packages `scripts/install-deps run` installs."""
    with open(os.path.join(repo, "scripts", "install-deps"), encoding="utf-8") as f:
        script = f.read()
    variables = dict(re.findall(r'^(\w+)="([^"]*)"', script, re.M))
    run = re.search(r'^run\) want="([^"]*)"', script, re.M)
    if not run:
        return None
    return re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), ""), run.group(1)).split()


def apt_packages(instructions):
    packages = []
    for keyword, text in instructions:
        for command in text.split("&&") if keyword == "RUN" else []:
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                packages += [w for w in words[2:] if not w.startswith("-")]
    return packages


def check_copies(problems, repo, all_stages):
    names = [name for _, name, _ in all_stages]
    for image, _, instructions in all_stages:
        for keyword, text in instructions:
            if keyword not in ("COPY", "ADD"):
                continue
            words = shlex.split(text)
            options = [w for w in words if w.startswith("--")]
            sources = [w for w in words if not w.startswith("--")][:-1]
            stage = next((o.split("=", 1)[1] for o in options if o.startswith("--from=")), None)
            if stage is not None and stage not in names:
                problems.add("Containerfile", f"COPY --from={stage} names no earlier stage")
            for source in sources if stage is None else []:
                if not os.path.exists(os.path.join(repo, source)):
                    problems.add("Containerfile", f"COPY {source}: not found in the build context {repo}")


def check_build_sources(problems, repo, instructions):
    """The build stage copies every folder the top CMakeLists.txt always
    reads (its add_subdirectory calls at column 0 and cmake/)."""
    copied = set()
    for keyword, text in instructions:
        if keyword == "COPY":
            copied.update(w.rstrip("/") for w in shlex.split(text)[:-1] if not w.startswith("--"))
    if "." in copied:
        return
    with open(os.path.join(repo, "CMakeLists.txt"), encoding="utf-8") as f:
        needed = {"CMakeLists.txt", "CMakePresets.json", "cmake"}
        needed.update(re.findall(r"^add_subdirectory\((\w+)\)", f.read(), re.M))
    for source in sorted(needed - copied):
        problems.add("Containerfile", f"the build stage does not COPY {source}, which the build reads")


def check_build_stage(problems, repo, all_stages):
    """The runtime stage copies the binary where the release preset puts it."""
    with open(os.path.join(repo, "CMakePresets.json"), encoding="utf-8") as f:
        presets = json.load(f)
    with open(os.path.join(repo, "engine", "CMakeLists.txt"), encoding="utf-8") as f:
        if not re.search(r"add_executable\(beamline-engine\b", f.read()):
            problems.add("Containerfile", "engine/CMakeLists.txt no longer builds beamline-engine")
    for _, name, instructions in all_stages:
        workdir = next((t for k, t in instructions if k == "WORKDIR"), "/")
        for keyword, text in instructions:
            preset = re.search(r"cmake --preset (\S+)", text) if keyword == "RUN" else None
            if preset is None:
                continue
            check_build_sources(problems, repo, instructions)
            found = [p for p in presets["configurePresets"] if p["name"] == preset.group(1)]
            if not found:
                problems.add("Containerfile", f"cmake --preset {preset.group(1)}: no such preset")
                continue
            binary = found[0]["binaryDir"].replace("${sourceDir}", workdir.rstrip("/")) + "/engine/beamline-engine"
            copied = [shlex.split(t) for _, _, ins in all_stages for k, t in ins if k == "COPY"]
            if not any(f"--from={name}" in w and binary in w for w in copied):
                problems.add("Containerfile", f"no COPY --from={name} {binary}, where the build puts the engine")


def container(repo):
    problems = Problems()
    path = os.path.join(repo, "deploy", "container", "Containerfile")
    all_stages = stages(read_containerfile(path))
    if not all_stages:
        problems.add("Containerfile", "no FROM")
        return problems.finish()
    for image, _, _ in all_stages:
        if not re.fullmatch(r"(docker\.io/(library/)?)?debian:(12|bookworm)([-.\w]*)(@sha256:[0-9a-f]{64})?", image):
            problems.add("Containerfile", f"FROM {image}: expected Debian 12 (debian:12 or debian:bookworm)")
    check_copies(problems, repo, all_stages)
    check_build_stage(problems, repo, all_stages)

    final = dict(all_stages[-1][2])
    installed = apt_packages(all_stages[-1][2])
    packages = install_deps_packages(repo)
    if packages is None:
        problems.add("scripts/install-deps", "no run) case")
    for package in packages or []:
        if package not in RUNTIME_PACKAGES:
            problems.add("Containerfile", f"scripts/install-deps run installs {package}, whose runtime package "
                         "check_manifests.py does not know: add it to RUNTIME_PACKAGES")
        elif RUNTIME_PACKAGES[package] and RUNTIME_PACKAGES[package] not in installed:
            problems.add("Containerfile", f"the runtime stage does not install {RUNTIME_PACKAGES[package]} "
                         f"(the runtime library of {package})")

    argv = []
    for keyword in ("ENTRYPOINT", "CMD"):
        try:
            argv += json.loads(final.get(keyword, "[]"))
        except json.JSONDecodeError:
            problems.add("Containerfile", f"{keyword} must use the exec form [\"...\"]")
    if argv[:3] != [ENGINE, "serve", "--config"] or len(argv) != 4:
        problems.add("Containerfile", f"ENTRYPOINT and CMD run {argv}, expected {ENGINE} serve --config PATH")

    docs = load_manifests(repo, problems)
    pod = Pod(docs.get("Deployment"), docs, problems)
    engine, k8s_argv = engine_container(pod.spec)
    if engine is not None and len(argv) == 4 and config_path(k8s_argv) != argv[3]:
        problems.add("Containerfile", f"CMD reads {argv[3]}, but the Deployment mounts the config at "
                     f"{config_path(k8s_argv)}")
    if engine is not None and len(argv) == 4:
        pod.check_source("Containerfile CMD", engine, argv[3], "file")

    config = json.loads(engine_config_text(docs.get("ConfigMap")) or "{}")
    listen = split_listen((config.get("admin") or {}).get("listen", ""))
    port = listen[1] if listen else None
    if final.get("EXPOSE", "").split("/")[0] != str(port):
        problems.add("Containerfile", f"EXPOSE {final.get('EXPOSE')} is not the admin port {port} of configmap.yaml")
    if f"127.0.0.1:{port}/health" not in final.get("HEALTHCHECK", ""):
        problems.add("Containerfile", f"HEALTHCHECK must GET http://127.0.0.1:{port}/health")

    user = re.search(r"useradd [^&]*--uid (\d+)[^&]* (\w+)\s*(&&|$)", " ".join(t for _, t in all_stages[-1][2]))
    uid = (pod.spec.get("securityContext") or {}).get("runAsUser")
    if not user or user.group(2) != final.get("USER") or int(user.group(1)) != uid:
        problems.add("Containerfile", f"USER {final.get('USER')} must be the user useradd makes, with the uid "
                     f"{uid} that the Deployment runs as")
    return problems.finish()


def main(argv):
    if len(argv) != 3 or argv[1] not in ("kubernetes", "container", "engine-config"):
        print(__doc__, file=sys.stderr)
        return 2
    repo = argv[2]
    if argv[1] == "kubernetes":
        return kubernetes(repo)
    if argv[1] == "container":
        return container(repo)
    problems = Problems()
    text = engine_config_text(load_manifests(repo, problems).get("ConfigMap"))
    if text is None:
        problems.add("configmap.yaml", f"no data.{CONFIG_KEY}")
        return problems.finish()
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
