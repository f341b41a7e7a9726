//! Field paths (`devices[*].service_tag`) and the rule tree they compile into.

use std::sync::Arc;

use super::rule::FieldRule;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// Every element of an array (`[*]`).
    Each,
}

/// Parses `a.b[*].c` into steps; `$`-rooted paths must have their `$` stripped first.
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    if path.is_empty() {
        return Ok(steps);
    }
    for segment in path.split('.') {
        let (name, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if name.is_empty() || name.contains(']') {
            return Err(format!(
                "invalid field path {path:?}: empty or malformed segment"
            ));
        }
        steps.push(Step::Key(name.to_string()));
        while !rest.is_empty() {
            rest = rest
                .strip_prefix("[*]")
                .ok_or_else(|| format!("invalid field path {path:?}: only [*] may index arrays"))?;
            steps.push(Step::Each);
        }
    }
    Ok(steps)
}

/// Where the records are in a response: `$` (the body is one record) or `$.results[*]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSelector {
    /// The selector as written.
    pub text: String,
    /// Its steps from the document root.
    pub steps: Vec<Step>,
}

impl RecordSelector {
    /// Parses a `$`-rooted selector.
    pub fn parse(text: &str) -> Result<RecordSelector, String> {
        let rest = match text {
            "$" => "",
            _ => text
                .strip_prefix("$.")
                .ok_or_else(|| format!("record selector {text:?} must start with `$`"))?,
        };
        Ok(RecordSelector {
            text: text.to_string(),
            steps: parse_path(rest)?,
        })
    }
}

/// A node of the rule tree: the rule for this exact path, and the paths below it.
#[derive(Debug, Default)]
pub struct RuleNode {
    /// The rule naming exactly this path, if any.
    pub rule: Option<Arc<FieldRule>>,
    /// Rules below object members, by member name, sorted by (length, name):
    /// every member of every judged object is looked up here, and most names
    /// it is compared with differ in length, which settles it without reading
    /// a byte of either.
    children: Vec<(String, RuleNode)>,
    /// Rules below `[*]`.
    pub each: Option<Box<RuleNode>>,
}

impl RuleNode {
    /// The node for an object member, if any rule lies below it.
    pub fn child(&self, key: &str) -> Option<&RuleNode> {
        let at = self.position(key).ok()?;
        self.children.get(at).map(|(_, node)| node)
    }

    /// The node for an object member, made if it is not there yet.
    fn child_or_insert(&mut self, key: &str) -> &mut RuleNode {
        let at = match self.position(key) {
            Ok(at) => at,
            Err(at) => {
                self.children
                    .insert(at, (key.to_string(), RuleNode::default()));
                at
            }
        };
        &mut self.children[at].1
    }

    /// Where `key` is among the children, or where it would go.
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.children
            .binary_search_by(|(name, _)| (name.len(), name.as_str()).cmp(&(key.len(), key)))
    }

    /// Whether rules lie below some object member of this node.
    pub fn has_members(&self) -> bool {
        !self.children.is_empty()
    }

    /// The node for array elements, if any rule lies below them.
    pub fn element(&self) -> Option<&RuleNode> {
        self.each.as_deref()
    }

    /// Some rule strictly below this node, if there is one.
    fn first_rule_below(&self) -> Option<&Arc<FieldRule>> {
        let members = self.children.iter().map(|(_, node)| node);
        members
            .chain(self.element())
            .find_map(|node| node.rule.as_ref().or_else(|| node.first_rule_below()))
    }
}

/// Why a rule at `inner` cannot sit below the rule at `outer`.
fn nested(inner: &str, outer: &str) -> String {
    format!(
        "field {inner:?} lies under field {outer:?}, whose rule decides everything beneath it, \
         so the rule for {inner:?} would never apply; give {outer:?}'s other members rules of \
         their own instead of one for {outer:?}"
    )
}

/// The rules of a route, keyed by path segment so the transform never builds path strings.
#[derive(Debug, Default)]
pub struct RuleTree {
    /// The root: the record itself.
    pub root: RuleNode,
    /// Every rule, in declaration order (for explain and checks).
    pub rules: Vec<Arc<FieldRule>>,
}

impl RuleTree {
    /// Adds a rule at its path; refuses a path named twice, and a rule above
    /// or below another one.
    ///
    /// A rule decides everything beneath its path, so a rule nested under
    /// another would never be applied: `address = "pass"` would show the
    /// `address.street` that a rule of its own conceals. Refusing the pair
    /// keeps the stricter rule from being silently ignored.
    pub fn insert(&mut self, steps: &[Step], rule: FieldRule) -> Result<(), String> {
        let mut node = &mut self.root;
        for step in steps {
            if let Some(above) = &node.rule {
                return Err(nested(&rule.path, &above.path));
            }
            node = match step {
                Step::Key(k) => node.child_or_insert(k),
                Step::Each => node.each.get_or_insert_with(Default::default),
            };
        }
        if node.rule.is_some() {
            return Err(format!("field {:?} has two rules", rule.path));
        }
        if let Some(below) = node.first_rule_below() {
            return Err(nested(&below.path, &rule.path));
        }
        let rule = Arc::new(rule);
        node.rule = Some(rule.clone());
        self.rules.push(rule);
        Ok(())
    }

    /// The rule that decides the value at `steps`: the nearest rule on the path, outermost first.
    pub fn lookup(&self, steps: &[Step]) -> Option<&Arc<FieldRule>> {
        let mut node = &self.root;
        for step in steps {
            if let Some(rule) = &node.rule {
                return Some(rule);
            }
            node = match step {
                Step::Key(k) => node.child(k)?,
                Step::Each => node.element()?,
            };
        }
        node.rule.as_ref()
    }

    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_name_finds_its_own_node() {
        let names = [
            "email",
            "id",
            "name",
            "phone",
            "address",
            "devices",
            "a",
            "ab",
            "ba",
            "b",
            "service_history",
            "postal_code",
            "city",
            "é",
            "e\u{301}",
            "",
        ];
        let mut root = RuleNode::default();
        for (depth, name) in names.iter().enumerate() {
            // Each child is marked by its position: one `each` level per index.
            let mut node = root.child_or_insert(name);
            for _ in 0..depth {
                node = node.each.get_or_insert_with(Default::default);
            }
        }
        for (depth, name) in names.iter().enumerate() {
            let mut node = root.child(name).expect(name);
            let mut levels = 0;
            while let Some(next) = node.element() {
                node = next;
                levels += 1;
            }
            assert_eq!(levels, depth, "{name:?} found another member's node");
        }
        for absent in ["Email", "emai", "emails", "c", "aa", "service-history"] {
            assert!(root.child(absent).is_none(), "{absent:?}");
        }
        assert_eq!(root.children.len(), names.len());
        root.child_or_insert("email");
        assert_eq!(
            root.children.len(),
            names.len(),
            "an existing name is not added twice"
        );
    }

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse_path("devices[*].service_tag").unwrap(),
            vec![
                Step::Key("devices".into()),
                Step::Each,
                Step::Key("service_tag".into())
            ]
        );
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a[0]").is_err());
        assert!(parse_path("a[*]x").is_err());
        assert_eq!(
            RecordSelector::parse("$.results[*]").unwrap().steps,
            vec![Step::Key("results".into()), Step::Each]
        );
        assert!(RecordSelector::parse("results").is_err());
    }
}
