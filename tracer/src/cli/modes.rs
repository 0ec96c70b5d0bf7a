//! The modes (`sdtrace follow`, `sdtrace top`, ...) as one list, and what is
//! made from it: the list `sdtrace --help` ends with, `sdtrace help [MODE]`,
//! and, from the same clap definitions, the man pages and the bash, zsh and
//! fish completions (`sdtrace --generate KIND`, which `cargo xtask build`
//! installs, as ripgrep's `rg --generate` does).

use std::io::Write;

use clap::{Command, CommandFactory};

use super::{
    AgentCli, CertCli, CheckCli, Cli, ConvergeCli, EchoCli, FollowCli, SpyCli, TopCli, UiCli,
};

/// A mode: the word after `sdtrace` that picks it.
pub struct Mode {
    pub name: &'static str,
    /// One line for `--help`.
    pub summary: &'static str,
    pub example: &'static str,
    command: fn() -> Command,
}

impl Mode {
    /// The mode's own command line, named as a subcommand of `sdtrace`.
    pub fn command(&self) -> Command {
        (self.command)()
            .name(self.name)
            .bin_name(format!("sdtrace {}", self.name))
    }
}

/// Every mode, in the order `--help` lists them.
pub const MODES: &[Mode] = &[
    Mode {
        name: "follow",
        summary: "follow requests from a client through NAT into the servers that answered",
        example: "sdtrace follow -- curl -s http://172.17.0.1:8080/",
        command: FollowCli::command,
    },
    Mode {
        name: "converge",
        summary: "what a config-management daemon watched, checked and changed, and why",
        example: "sdtrace converge --daemon puppet",
        command: ConvergeCli::command,
    },
    Mode {
        name: "top",
        summary: "the busiest files, processes, connections, containers, syscalls or errors",
        example: "sdtrace top files -M 10",
        command: TopCli::command,
    },
    Mode {
        name: "spy",
        summary: "every command typed in an interactive shell",
        example: "sdtrace spy users",
        command: SpyCli::command,
    },
    Mode {
        name: "echo",
        summary: "the data processes read and write on their file descriptors",
        example: "sdtrace echo fds -c \"proc.name=nginx\"",
        command: EchoCli::command,
    },
    Mode {
        name: "ui",
        summary: "a live view of containers, processes, files and connections (csysdig)",
        example: "sdtrace ui -c \"container.name=web\"",
        command: UiCli::command,
    },
    Mode {
        name: "agent",
        summary: "serve this node's events to sdtrace --agent and --cluster clients",
        example: "sdtrace agent --token-file /var/run/sdtrace/token",
        command: AgentCli::command,
    },
    Mode {
        name: "cert",
        summary: "make the agents' TLS certificate and its CA, into files or a Secret",
        example: "sdtrace cert --out /etc/sdtrace --name node1.example",
        command: CertCli::command,
    },
    Mode {
        name: "check",
        summary: "load every program on this kernel and say what it took",
        example: "sdtrace check",
        command: CheckCli::command,
    },
];

/// The mode named `name`.
pub fn mode(name: &str) -> Option<&'static Mode> {
    MODES.iter().find(|m| m.name == name)
}

/// The modes as `sdtrace --help` lists them, after the default mode's options.
fn listing() -> String {
    let width = MODES.iter().map(|m| m.name.len()).max().unwrap_or(0);
    let mut out = String::from("Modes (sdtrace help MODE, or sdtrace MODE --help):\n");
    for m in MODES {
        out.push_str(&format!(
            "  {:<width$}  {}\n  {:<width$}    e.g. {}\n",
            m.name, m.summary, "", m.example
        ));
    }
    out
}

/// The default mode's command line, with the modes listed after its own
/// examples.
pub fn main_command() -> Command {
    let cmd = Cli::command();
    let examples = cmd
        .get_after_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    cmd.after_help(format!("{examples}\n\n{}", listing()))
        .after_long_help(format!("{examples}\n\n{}", listing()))
}

/// The whole command line: the default mode with every mode as a
/// subcommand; what the man pages and completions are made from.
pub fn full_command() -> Command {
    MODES
        .iter()
        .fold(main_command(), |cmd, m| cmd.subcommand(m.command()))
}

/// `sdtrace help [MODE]`: the default mode's help, or a mode's.
pub fn help(mode_name: Option<&str>) -> anyhow::Result<()> {
    let mut cmd = match mode_name {
        None => main_command(),
        Some(name) => mode(name).map(Mode::command).ok_or_else(|| {
            let names: Vec<&str> = MODES.iter().map(|m| m.name).collect();
            anyhow::anyhow!("help: no mode `{name}`; the modes are {}", names.join(", "))
        })?,
    };
    cmd.print_long_help()?;
    Ok(())
}

/// What `--generate` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Generated {
    /// The modes' names, a line each (for what installs the pages).
    Modes,
    /// `sdtrace.1`.
    Man,
    /// `sdtrace-MODE.1`.
    ModeMan(String),
    Complete(clap_complete::Shell),
}

impl std::str::FromStr for Generated {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        use clap_complete::Shell;
        Ok(match s {
            "modes" => Self::Modes,
            "man" => Self::Man,
            "complete-bash" => Self::Complete(Shell::Bash),
            "complete-zsh" => Self::Complete(Shell::Zsh),
            "complete-fish" => Self::Complete(Shell::Fish),
            other => match other.strip_prefix("man-").filter(|m| mode(m).is_some()) {
                Some(m) => Self::ModeMan(m.to_owned()),
                None => {
                    let modes: Vec<String> =
                        MODES.iter().map(|m| format!("man-{}", m.name)).collect();
                    return Err(format!(
                        "one of modes, man, {}, complete-bash, complete-zsh, complete-fish",
                        modes.join(", ")
                    ));
                }
            },
        })
    }
}

/// Writes what `what` asks for to `out`.
pub fn generate(what: &Generated, out: &mut dyn Write) -> std::io::Result<()> {
    match what {
        Generated::Modes => MODES.iter().try_for_each(|m| writeln!(out, "{}", m.name)),
        Generated::Man => clap_mangen::Man::new(full_command()).render(out),
        Generated::ModeMan(name) => {
            let m = mode(name).expect("parsed names are modes");
            let cmd = m.command().name(format!("sdtrace-{}", m.name));
            clap_mangen::Man::new(cmd).render(out)
        }
        Generated::Complete(shell) => {
            clap_complete::generate(*shell, &mut full_command(), "sdtrace", out);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_mode_with_an_example() {
        let help = main_command().render_long_help().to_string();
        for m in MODES {
            assert!(
                help.contains(&format!("  {}", m.name)),
                "{} missing:\n{help}",
                m.name
            );
            assert!(help.contains(m.example), "{help}");
        }
        // The default mode's own examples stay.
        assert!(help.contains("sdtrace -w trace.scap"), "{help}");
    }

    #[test]
    fn every_mode_parses_as_a_subcommand() {
        let cmd = full_command();
        cmd.clone().debug_assert();
        for m in MODES {
            assert!(cmd.find_subcommand(m.name).is_some(), "{}", m.name);
        }
        assert!(help(Some("nonexistent"))
            .unwrap_err()
            .to_string()
            .contains("follow"));
    }

    #[test]
    fn man_pages_and_completions_name_the_modes() {
        let render = |what: Generated| {
            let mut out = Vec::new();
            generate(&what, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let man = render("man".parse().unwrap());
        assert!(
            man.starts_with(".ie"),
            "not roff: {}",
            &man[..40.min(man.len())]
        );
        assert!(man.contains("follow") && man.contains("converge"));
        let follow = render("man-follow".parse().unwrap());
        assert!(
            follow.contains("sdtrace\\-follow"),
            "{}",
            &follow[..200.min(follow.len())]
        );
        let bash = render("complete-bash".parse().unwrap());
        assert!(bash.contains("converge") && bash.contains("--filter"));
        assert!("man-nope".parse::<Generated>().is_err());
    }
}
