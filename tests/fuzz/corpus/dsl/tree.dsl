# A decision tree: branches are tried in order; each one excludes the
# branches above it, so no two can fire on the same input.
SIGNAL keyword urgent { keywords: ["outage", "production down", "sev1"] }
SIGNAL keyword code { keywords: ["stack trace", "segfault", "compile error"] }
SIGNAL context long { min_tokens: "32K" }

MODEL small { description: "Fast chat" quality_score: 0.6 }
MODEL coder { description: "Coding and tool use" quality_score: 0.8 }
MODEL big { description: "Hard problems and long context" quality_score: 0.95 }

DECISION_TREE support {
  IF keyword("urgent") {
    NAME incident
    MODEL big (reasoning = true, effort = "medium")
    EMIT retention { keep_current_model: true }
  } ELSE IF context("long") {
    NAME long_context
    MODEL big
  } ELSE IF keyword("code") {
    NAME coding
    MODEL coder, big
    ALGORITHM multi_factor { quality_weight: 0.7 cost_weight: 0.3 }
  } ELSE {
    NAME chat
    MODEL small
  }
}

TEST support_smoke {
  "Production down: the API returns 500 for every call" -> incident
  "Here is a stack trace from the parser, what broke?" -> coding
  "hello there" -> chat
}
