//! A request's query, parsed strictly: `application/x-www-form-urlencoded` pairs, percent-decoded,
//! each name one the operation declares (exactly, case included) and given once. A repeated or
//! differently-cased name would let the proxy check one value while BACEN reads another.

/// A query's parameters, decoded, in order, each name once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// The parameters of `query`, each of `declared`.
    pub fn parse(query: Option<&str>, declared: &[&str]) -> Result<Query, String> {
        let Some(query) = query.filter(|q| !q.is_empty()) else {
            return Ok(Query::default());
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for raw in query.split('&') {
            let (name, _) = raw.split_once('=').unwrap_or((raw, ""));
            let (name_decoded, value) = form_urlencoded::parse(raw.as_bytes())
                .next()
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .unwrap_or_default();
            if name_decoded.is_empty() {
                return Err("an empty query parameter".into());
            }
            if name != name_decoded || !declared.contains(&name) {
                let allowed = if declared.is_empty() {
                    "it takes no query".to_string()
                } else {
                    format!("it takes {}", declared.join(", "))
                };
                return Err(format!(
                    "query parameter '{}' is not declared ({allowed})",
                    super::shown(&name_decoded, 60)
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("query parameter '{name}' has a control character"));
            }
            if pairs.iter().any(|(n, _)| n == name) {
                return Err(format!("query parameter '{name}' is given more than once"));
            }
            pairs.push((name.to_string(), value));
        }
        Ok(Query(pairs))
    }

    /// The value of `name`, when given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether the query is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
