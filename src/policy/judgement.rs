//! The judgement: what every applicable rule found on one request, in
//! registry order, with the mode it ran in. No sentences: the webhook's
//! answer ([`Judgement::verdict`]), the audit's findings and the lint's
//! findings are all rendered from it by [`RuleResult::answer`], so no front
//! end applies modes on its own.

use std::fmt;

use super::rule::{Outcome, Rule};
use super::{Phase, Verdict, Violation, render};
use crate::base::Mode;
use crate::host::Layout;

/// One applicable rule's result on one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    /// The rule (from [`super::RULES`]).
    pub rule: &'static Rule,
    /// The mode it ran in for this request's user (never `off`).
    pub mode: Mode,
    /// What it found.
    pub outcome: Outcome,
}

/// What one rule does to the request, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleDecision {
    /// Enforced violations: the rule denies.
    Denied,
    /// Violations in `warn` mode, or warnings only.
    Warned,
    /// A patch (mutating rules).
    Patched,
    /// Nothing found.
    Passed,
}

impl RuleDecision {
    /// The label spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleDecision::Denied => "denied",
            RuleDecision::Warned => "warned",
            RuleDecision::Patched => "patched",
            RuleDecision::Passed => "passed",
        }
    }
}

/// One rule's result in words: its denial (if it denies) and its warnings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleAnswer {
    /// The denial message, when the rule denies.
    pub denial: Option<String>,
    /// Its warnings, in order.
    pub warnings: Vec<String>,
}

impl RuleResult {
    /// True when this rule denies the request.
    pub fn denies(&self) -> bool {
        self.mode == Mode::Enforce && !self.outcome.violations.is_empty()
    }

    /// The violations this rule only warns about (`warn` mode).
    fn warned_violations(&self) -> &[Violation] {
        match self.mode {
            Mode::Warn => &self.outcome.violations,
            _ => &[],
        }
    }

    /// True when the rule warns or patches (the audit annotation `flagged-by`).
    pub fn flagged(&self) -> bool {
        !self.outcome.warnings.is_empty()
            || !self.outcome.patch.is_empty()
            || !self.warned_violations().is_empty()
    }

    /// What the rule does to the request.
    pub fn decision(&self) -> RuleDecision {
        if self.denies() {
            RuleDecision::Denied
        } else if !self.outcome.patch.is_empty() {
            RuleDecision::Patched
        } else if self.flagged() {
            RuleDecision::Warned
        } else {
            RuleDecision::Passed
        }
    }

    /// The one rendering of a rule's result: the denial of its enforced
    /// violations, then the warnings (its warnings first, then its
    /// violations in `warn` mode). `layout` picks the fix.
    pub fn answer(&self, layout: Option<&Layout>) -> RuleAnswer {
        let mut warnings = render::warnings(&self.outcome.warnings);
        warnings.extend(render::warnings(self.warned_violations()));
        RuleAnswer {
            denial: match self.mode {
                Mode::Enforce => self.enforced_text(layout),
                _ => None,
            },
            warnings,
        }
    }

    /// The denial this rule's violations make when it is enforced, whatever
    /// mode it ran in (`talos lint` reports LTG-W013 so), if it found any.
    pub fn enforced_text(&self, layout: Option<&Layout>) -> Option<String> {
        (!self.outcome.violations.is_empty())
            .then(|| render::denial(&self.outcome.violations, layout))
    }
}

/// What the rules decided on one request, as an enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// At least one rule denies.
    Denied,
    /// Allowed with a patch.
    Patched,
    /// Allowed with warnings.
    Warned,
    /// Allowed as is.
    Allowed,
}

impl Decision {
    /// The label and log spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Denied => "denied",
            Decision::Patched => "patched",
            Decision::Warned => "warned",
            Decision::Allowed => "allowed",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every applicable rule's result on one request, in registry order.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The endpoint judged for.
    pub phase: Phase,
    /// One entry per rule that ran, in registry order.
    pub results: Vec<RuleResult>,
}

impl Judgement {
    /// The result of `rule`, when it ran on the request.
    pub fn of(&self, rule: &Rule) -> Option<&RuleResult> {
        self.results.iter().find(|r| r.rule.id == rule.id)
    }

    /// What the rules decided.
    pub fn decision(&self) -> Decision {
        let any = |d| self.results.iter().any(|r| r.decision() == d);
        if any(RuleDecision::Denied) {
            Decision::Denied
        } else if any(RuleDecision::Patched) {
            Decision::Patched
        } else if any(RuleDecision::Warned) {
            Decision::Warned
        } else {
            Decision::Allowed
        }
    }

    /// The webhook's answer: the denials of every denying rule joined by
    /// new lines, every rule's warnings and patch, and the rule IDs for the
    /// audit annotations.
    pub fn verdict(&self, layout: Option<&Layout>) -> Verdict {
        let mut verdict = Verdict::default();
        for result in &self.results {
            let answer = result.answer(layout);
            if let Some(text) = answer.denial {
                verdict.denial = Some(match verdict.denial.take() {
                    Some(prev) => format!("{prev}\n{text}"),
                    None => text,
                });
                verdict.denied_by.push(result.rule.id);
            }
            verdict.warnings.extend(answer.warnings);
            verdict.patch.extend(result.outcome.patch.iter().cloned());
            if result.flagged() {
                verdict.flagged_by.push(result.rule.id);
            }
        }
        verdict
    }
}
