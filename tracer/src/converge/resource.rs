//! What a config-management daemon manages, named as the operator knows it,
//! and the commands that act on those things (`dpkg -i`, `systemctl restart`,
//! `useradd`): a package, service or account is never seen as such by the
//! kernel, only as the command run against it.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    File(String),
    Pkg(String),
    Svc(String),
    User(String),
    Group(String),
    /// A command the daemon ran that is none of the above.
    Exec(String),
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = match self {
            Self::File(n) => ("file", n),
            Self::Pkg(n) => ("pkg", n),
            Self::Svc(n) => ("svc", n),
            Self::User(n) => ("user", n),
            Self::Group(n) => ("group", n),
            Self::Exec(n) => ("exec", n),
        };
        write!(f, "{kind}:{name}")
    }
}

impl Resource {
    /// Resources a refresh reaches: a daemon restarts a service or reruns
    /// a command because something it depends on changed (mgmt's and
    /// puppet's notify edges), never rewrites a file for that reason.
    #[must_use]
    pub fn takes_refresh(&self) -> bool {
        matches!(self, Self::Svc(_) | Self::Exec(_))
    }
}

/// A command recognised as acting on resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub resources: Vec<Resource>,
    /// What it does to them, as the command says it (`install`, `restart`).
    pub verb: &'static str,
    /// Whether the verb changes them (`status`, `dpkg-query` only look).
    pub changes: bool,
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Programs that run a script named by their first argument.
fn is_interpreter(prog: &str) -> bool {
    matches!(
        prog,
        "sh" | "dash" | "bash" | "busybox" | "env" | "perl" | "ruby"
    ) || prog.starts_with("python")
}

/// The argument list from the program on: `/bin/sh /etc/init.d/x start`
/// is the script's, `python3 /usr/bin/apt-get install` apt-get's.
fn program_argv(argv: &[String]) -> &[String] {
    let mut rest = argv;
    while rest.len() > 1 && is_interpreter(basename(&rest[0])) && !rest[1].starts_with('-') {
        rest = &rest[1..];
    }
    rest
}

/// The program's name: the script an interpreter runs, else argv[0]'s.
#[must_use]
pub fn program(argv: &[String]) -> &str {
    program_argv(argv).first().map_or("", |p| basename(p))
}

fn positionals(args: &[String]) -> impl Iterator<Item = &str> {
    args.iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-') && !a.contains('$') && !a.is_empty())
}

fn command_of(resources: Vec<Resource>, verb: &'static str, changes: bool) -> Option<Command> {
    (!resources.is_empty()).then_some(Command {
        resources,
        verb,
        changes,
    })
}

/// Recognises `argv` (argv[0] first) as a package, service or account
/// command.
#[must_use]
pub fn command(argv: &[String]) -> Option<Command> {
    let argv = program_argv(argv);
    let prog = basename(argv.first()?);
    let args = &argv[1..];
    if let Some(name) = init_script(&argv[0]) {
        return service(name, args.first().map_or("", String::as_str));
    }
    match prog {
        "dpkg" => dpkg(args),
        "dpkg-query" => {
            let names = positionals(args)
                .map(|n| Resource::Pkg(n.to_owned()))
                .collect();
            command_of(names, "query", false)
        }
        "apt-get" | "apt" | "aptitude" | "yum" | "dnf" | "zypper" => package_manager(args),
        "apt-cache" | "rpm" if args.iter().any(|a| a == "-q" || a == "policy") => {
            let names = positionals(args)
                .filter(|n| *n != "policy")
                .map(|n| Resource::Pkg(n.to_owned()))
                .collect();
            command_of(names, "query", false)
        }
        "systemctl" => {
            let mut pos = positionals(args);
            let (verb, changes) = service_verb(pos.next()?)?;
            let units: Vec<_> = pos
                .map(|u| Resource::Svc(u.trim_end_matches(".service").to_owned()))
                .collect();
            command_of(units, verb, changes)
        }
        "service" | "invoke-rc.d" | "rc-service" => {
            let mut pos = positionals(args);
            let name = pos.next()?;
            service(name, pos.next().unwrap_or(""))
        }
        "useradd" | "adduser" | "usermod" | "userdel" | "deluser" | "passwd" | "chage" => {
            let verb = match prog {
                "useradd" | "adduser" => "add",
                "userdel" | "deluser" => "delete",
                _ => "modify",
            };
            let name = positionals(args).last()?;
            command_of(vec![Resource::User(name.to_owned())], verb, true)
        }
        "groupadd" | "addgroup" | "groupmod" | "groupdel" | "delgroup" | "gpasswd" => {
            let verb = match prog {
                "groupadd" | "addgroup" => "add",
                "groupdel" | "delgroup" => "delete",
                _ => "modify",
            };
            let name = positionals(args).last()?;
            command_of(vec![Resource::Group(name.to_owned())], verb, true)
        }
        "getent" => {
            let mut pos = positionals(args);
            let db = pos.next()?;
            let name = pos.next()?.to_owned();
            let r = match db {
                "passwd" | "shadow" => Resource::User(name),
                "group" | "gshadow" => Resource::Group(name),
                _ => return None,
            };
            command_of(vec![r], "query", false)
        }
        "id" => {
            let name = positionals(args).last()?;
            command_of(vec![Resource::User(name.to_owned())], "query", false)
        }
        _ => None,
    }
}

const SERVICE_CHANGES: &[&str] = &[
    "start",
    "stop",
    "restart",
    "reload",
    "force-reload",
    "try-restart",
    "reload-or-restart",
    "condrestart",
    "enable",
    "disable",
    "mask",
    "unmask",
    "kill",
];
const SERVICE_CHECKS: &[&str] = &[
    "status",
    "is-active",
    "is-enabled",
    "is-failed",
    "show",
    "cat",
];

fn init_script(path: &str) -> Option<&str> {
    ["/etc/init.d/", "/etc/rc.d/init.d/", "/etc/rc.d/"]
        .iter()
        .find_map(|dir| path.strip_prefix(dir))
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

/// A service verb as the static word, and whether it changes the service.
fn service_verb(verb: &str) -> Option<(&'static str, bool)> {
    SERVICE_CHANGES
        .iter()
        .find(|v| **v == verb)
        .map(|v| (*v, true))
        .or_else(|| {
            SERVICE_CHECKS
                .iter()
                .find(|v| **v == verb)
                .map(|v| (*v, false))
        })
}

fn service(name: &str, verb: &str) -> Option<Command> {
    let (verb, changes) = service_verb(verb)?;
    command_of(vec![Resource::Svc(name.to_owned())], verb, changes)
}

/// The package a `.deb` or `.rpm` file holds, by Debian's and RPM's naming
/// (`name_version_arch.deb`, `name-version-release.arch.rpm`).
fn package_of_file(path: &str) -> String {
    let file = basename(path);
    if let Some(stem) = file.strip_suffix(".deb") {
        return stem.split('_').next().unwrap_or(stem).to_owned();
    }
    let stem = file.strip_suffix(".rpm").unwrap_or(file);
    // Drop `-version-release.arch`: the last two dash-separated parts.
    let parts: Vec<&str> = stem.rsplitn(3, '-').collect();
    parts.last().copied().unwrap_or(stem).to_owned()
}

fn dpkg(args: &[String]) -> Option<Command> {
    let (verb, changes) = args.iter().find_map(|a| {
        Some(match a.as_str() {
            "-i" | "--install" => ("install", true),
            "-r" | "--remove" => ("remove", true),
            "-P" | "--purge" => ("purge", true),
            "--unpack" => ("unpack", true),
            "--configure" => ("configure", true),
            "-s" | "--status" | "-l" | "--list" | "-L" | "--listfiles" => ("query", false),
            _ => return None,
        })
    })?;
    let names = positionals(args)
        .map(|n| {
            Resource::Pkg(if verb == "install" || verb == "unpack" {
                package_of_file(n)
            } else {
                n.to_owned()
            })
        })
        .collect();
    command_of(names, verb, changes)
}

/// What package managers' subcommands do: whether each changes packages.
const PACKAGE_VERBS: &[(&str, bool)] = &[
    ("install", true),
    ("reinstall", true),
    ("remove", true),
    ("purge", true),
    ("erase", true),
    ("autoremove", true),
    ("upgrade", true),
    ("downgrade", true),
    ("show", false),
    ("info", false),
    ("list", false),
    ("policy", false),
];

fn package_manager(args: &[String]) -> Option<Command> {
    let mut pos = positionals(args);
    let first = pos.next()?;
    let &(verb, changes) = PACKAGE_VERBS.iter().find(|(v, _)| *v == first)?;
    let names = pos
        .map(|n| {
            let n = n.split('=').next().unwrap_or(n);
            Resource::Pkg(if n.ends_with(".deb") || n.ends_with(".rpm") {
                package_of_file(n)
            } else {
                n.to_owned()
            })
        })
        .collect();
    command_of(names, verb, changes)
}

/// A known configuration-management agent, by the family it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agent {
    pub name: &'static str,
    /// Runs on a schedule (every N minutes, or when invoked) rather than
    /// reacting to events: a change with no drift before it is the run's.
    pub periodic: bool,
    /// Where it keeps its own code, state and logs: never a resource.
    pub own_dirs: &'static [&'static str],
    /// How its scratch files and directories are named, wherever they are
    /// (ansible's module payloads in the temp dir): never a resource.
    pub scratch_prefixes: &'static [&'static str],
}

const PUPPET: Agent = Agent {
    name: "puppet",
    periodic: true,
    own_dirs: &[
        "/etc/puppet",
        "/etc/puppetlabs",
        "/var/lib/puppet",
        "/var/cache/puppet",
        "/var/log/puppet",
        "/run/puppet",
        "/opt/puppetlabs",
        "/usr/share/puppet",
        "/etc/facter",
        "/var/lib/facter",
    ],
    scratch_prefixes: &[],
};
const AGENTS: &[(&str, Agent)] = &[
    ("puppet", PUPPET),
    (
        "mgmt",
        Agent {
            name: "mgmt",
            periodic: false,
            own_dirs: &["/var/lib/mgmt", "/etc/mgmt", "/tmp/mgmt"],
            scratch_prefixes: &[],
        },
    ),
    (
        "ansible",
        Agent {
            name: "ansible",
            periodic: true,
            own_dirs: &["/root/.ansible", "/etc/ansible"],
            scratch_prefixes: &["ansible_", "AnsiballZ_", "ansible-tmp-"],
        },
    ),
    (
        "cf-agent",
        Agent {
            name: "cfengine",
            periodic: true,
            own_dirs: &["/var/cfengine", "/var/lib/cfengine3", "/var/log/cfengine3"],
            scratch_prefixes: &[],
        },
    ),
    (
        "salt",
        Agent {
            name: "salt",
            periodic: true,
            own_dirs: &["/etc/salt", "/var/cache/salt", "/var/log/salt", "/run/salt"],
            scratch_prefixes: &[],
        },
    ),
    (
        "chef",
        Agent {
            name: "chef",
            periodic: true,
            own_dirs: &[
                "/etc/chef",
                "/etc/cinc",
                "/var/chef",
                "/var/cinc",
                "/var/log/chef",
            ],
            scratch_prefixes: &[],
        },
    ),
];

fn agent(key: &str) -> Option<Agent> {
    AGENTS.iter().find(|(k, _)| *k == key).map(|(_, a)| *a)
}

/// Recognises a known agent by its comm and argv (argv[0] first): puppet
/// and the others are scripts, so the program is an interpreter's argument.
#[must_use]
pub fn known_agent(comm: &str, argv: &[String]) -> Option<Agent> {
    let argv = program_argv(argv);
    let prog = argv.first().map_or(comm, |p| basename(p));
    let key = match prog {
        "puppet" => "puppet",
        "mgmt" => "mgmt",
        "cf-agent" | "cf-execd" => "cf-agent",
        "salt-call" | "salt-minion" => "salt",
        "chef-client" | "cinc-client" | "chef-solo" | "cinc-solo" => "chef",
        p if p.starts_with("ansible-playbook") || p.starts_with("AnsiballZ_") => "ansible",
        _ if comm == "puppet" => "puppet",
        _ => return None,
    };
    agent(key)
}

/// A path in a container is named as `docker cp` names it,
/// `CONTAINER:/path`: the same path in two containers (or on the host) is
/// two resources.
#[must_use]
pub fn in_container(container: &str, path: &str) -> String {
    format!("{container}:{path}")
}

/// The path without its container, if it has one.
#[must_use]
pub fn local(path: &str) -> &str {
    match path.find('/') {
        Some(i) if i > 0 && path[..i].ends_with(':') => &path[i..],
        _ => path,
    }
}

/// Paths that are never resources: kernel interfaces and terminals.
#[must_use]
pub fn is_pseudo(path: &str) -> bool {
    let path = local(path);
    ["/proc/", "/sys/", "/dev/"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "/dev"
        || !path.starts_with('/')
}

/// Whether `path` is `dir` or inside it.
#[must_use]
pub fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The directory holding `path` (`/` for top-level entries).
#[must_use]
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}
