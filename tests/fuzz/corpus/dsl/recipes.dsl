# Two routing programs: the default one, and a "cheap" recipe selected by
# clients that ask for the model name "tether/cheap". Recipes share the
# model cards; templates declared at the top level are visible in recipes.
ROUTING { strategy: "priority" }

MODEL small { description: "Fast chat" quality_score: 0.6 }
MODEL big { description: "Hard problems" quality_score: 0.95 }

PLUGIN concise system_prompt { mode: "insert" system_prompt: "Answer concisely." }

SIGNAL keyword math { keywords: ["prove", "integral", "derivative"] }
SIGNAL pii private { threshold: 0.8 }

ROUTE private_data {
  PRIORITY 100
  WHEN pii("private")
  MODEL small
  EMIT retention { drop: true }
}

ROUTE math {
  PRIORITY 50
  WHEN keyword("math") AND NOT pii("private")
  MODEL big (reasoning = true, effort = "high"), small
}

ROUTE chat {
  PRIORITY 0
  MODEL small
  PLUGIN concise
}

RECIPE cheap {
  DESCRIPTION "Always the small model, with a shorter prompt"
  ROUTING { strategy: "priority" }

  ROUTE everything {
    MODEL small
    PLUGIN concise { system_prompt: "Answer in one sentence." }
  }
}

ENTRYPOINT { model_names: ["tether/cheap"] recipe: "cheap" }

TEST default_recipe {
  "Prove that the derivative of x^2 is 2x" -> math
  "hi" -> chat
}
