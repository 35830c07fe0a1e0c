/* jailbreak_patterns.c - curated prompt-injection / jailbreak regex library
 * and its compiled matcher (the pattern part "p" of the jailbreak family).
 *
 * All patterns (curated, user jailbreak, user benign) go into one
 * vectorscan block-mode database, so a text is scanned once whatever the
 * number of patterns. vectorscan lacks lookarounds and backreferences; a
 * user pattern it rejects is compiled with PCRE2 (JIT) instead and run
 * separately. Curated patterns are written in the common subset.
 * Neighbours: signals/jailbreak.c (the family: thresholds, contrastive and
 * classifier parts) builds one jb_lib_t per config snapshot. */
#include "signals/jailbreak_patterns.h"
#include "signals/jailbreak_prefilter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    jb_category_t cat;
    double weight;
    const char *re;
    /* words every match contains, for the prefilter (jailbreak_prefilter.h):
     * groups separated by ',', a word of each group is needed */
    const char *anchors;
} jb_def_t;

/* Weights: override and extraction 0.9 (SPEC), personas 0.85, role tags
 * 0.8, role play 0.7-0.85, plain decode requests 0.5 (below the default
 * threshold on their own: decoding is usually benign). */
#define W_OVR 0.9
#define W_EXT 0.9
static const jb_def_t CURATED[] = {
    /* instruction override */
    {"override_ignore_previous", JB_CAT_OVERRIDE, W_OVR,
     "\\b(ignore|disregard|forget|skip|bypass|override|overlook|drop|abandon)\\s+(all\\s+|any\\s+|"
     "the\\s+|your\\s+|my\\s+|every\\s+|of\\s+|these\\s+|those\\s+)*(previous|prior|preceding|"
     "above|"
     "earlier|former|original|initial|system|existing|old|current)\\s+([a-z]+\\s+){0,2}"
     "(instructions?|prompts?|rules|directives?|guidelines|guardrails|constraints|commands|"
     "programming|restrictions|policies|orders|guidance|directions)\\b",
     "ignore disregard forget skip bypass override overlook drop abandon, instruction prompt rules "
     "directive guidelines guardrails constraints commands programming restrictions policies "
     "orders guidance directions"},
    {"override_ignore_yours", JB_CAT_OVERRIDE, W_OVR,
     "\\b(ignore|disregard|forget|abandon)\\s+(all\\s+)?your\\s+(instructions|rules|guidelines|"
     "programming|system\\s+prompt|directives|training)",
     "ignore disregard forget abandon, your, instructions rules guidelines programming system "
     "directives training"},
    {"override_end_of_data", JB_CAT_OVERRIDE, W_OVR,
     "\\bend\\s+of\\s+(the\\s+)?(user\\s+)?(data|input|document|context|prompt|text)\\b.{0,40}"
     "\\b(new\\s+instructions|system|ignore|now\\s+you|you\\s+(are|must))",
     "end, data input document context prompt text, new system ignore now you"},
    {"override_new_instructions_colon", JB_CAT_OVERRIDE, W_OVR,
     "\\bnew\\s+instructions\\s*:\\s*(reveal|ignore|print|output|disregard|forget|you\\s+(are|must|"
     "will))",
     "new, instructions, reveal ignore print output disregard forget you"},
    {"override_evade_filters", JB_CAT_OVERRIDE, 0.85,
     "\\b(so|so\\s+that)\\s+(the\\s+)?(filters?|moderation|safety\\s+(system|filters?)|censors?|"
     "monitoring)\\s+(don'?t|do\\s+not|won'?t|will\\s+not|can'?t|cannot)\\s+(catch|detect|see|"
     "notice|"
     "flag|block)",
     "so, filter moderation safety censor monitoring, catch detect see notice flag block"},
    {"override_ignore_everything", JB_CAT_OVERRIDE, W_OVR,
     "\\b(ignore|disregard|forget)\\s+(all|any|every|everything|each)\\s+(of\\s+)?(your\\s+|the\\s+"
     "|"
     "these\\s+|those\\s+)?(instructions|rules|guidelines|restrictions|you\\s+(were|have\\s+been)"
     "\\s+"
     "(told|taught|given))",
     "ignore disregard forget, all any every each, instructions rules guidelines restrictions you"},
    {"override_forget_everything", JB_CAT_OVERRIDE, W_OVR,
     "\\bforget\\s+(everything|all)\\s+(you\\s+(know|were\\s+told|learned|have\\s+been\\s+told)|"
     "(written\\s+|said\\s+)?above|before\\s+this)",
     "forget, everything all, you written said above before"},
    {"override_new_instructions", JB_CAT_OVERRIDE, W_OVR,
     "\\b(your|the)\\s+(new|real|actual|true|updated)\\s+(system\\s+)?(instructions|rules|"
     "directives|task)\\s+(are|is)\\s*:?",
     "new real actual true updated, instructions rules directives task"},
    {"override_do_not_follow", JB_CAT_OVERRIDE, W_OVR,
     "\\b(do\\s+not|don'?t|stop|no\\s+longer)\\s+follow(ing)?\\s+(your|the|any)\\s+(previous\\s+|"
     "original\\s+|system\\s+|safety\\s+)?(instructions|rules|guidelines|programming|policies)",
     "follow, instructions rules guidelines programming policies"},
    {"override_from_now_on", JB_CAT_OVERRIDE, W_OVR,
     "\\bfrom\\s+now\\s+on\\b.{0,80}\\b(no\\s+(restrictions|limits|rules|filters|censorship)|"
     "without\\s+(any\\s+)?(restrictions|limits|rules|filters|censorship)|unfiltered|uncensored|"
     "ignore\\s+(all|your|any))",
     "from, now, restrictions limits rules filters censorship unfiltered uncensored ignore"},
    {"override_bypass_safety", JB_CAT_OVERRIDE, W_OVR,
     "\\b(bypass|disable|turn\\s+off|circumvent|evade|get\\s+around|ignore|remove|disregard)\\s+"
     "(all\\s+)?(your|the|any)?\\s*(safety|ethical|moral|content|openai|anthropic)\\s+(filters?|"
     "guardrails|restrictions|safeguards|polic(y|ies)|guidelines|protocols|training|rules)",
     "bypass disable turn circumvent evade get ignore remove disregard, filter guardrails "
     "restrictions safeguards polic guidelines protocols training rules"},
    {"override_bypass_yours", JB_CAT_OVERRIDE, W_OVR,
     "\\b(bypass|disable|turn\\s+off|circumvent|evade|override|remove)\\s+your\\s+(filters|"
     "guardrails|restrictions|safeguards|alignment|programming|limitations|censorship)",
     "bypass disable turn circumvent evade override remove, your, filters guardrails restrictions "
     "safeguards alignment programming limitations censorship"},
    {"override_precedence", JB_CAT_OVERRIDE, W_OVR,
     "\\b(this|these|the\\s+following)\\s+(instructions?|message|prompt)\\s+(overrides?|"
     "supersedes?|takes?\\s+precedence\\s+over|replaces?)\\s+(all|any|your|previous|prior|the\\s+"
     "(system|previous|original|above|prior))",
     "instruction message prompt, override supersede take replace"},
    {"override_authority_claim", JB_CAT_OVERRIDE, 0.85,
     "\\b(i\\s+am|i'm|this\\s+is)\\s+(your|the|an?)\\s+(developer|creator|administrator|admin|"
     "owner|"
     "openai|anthropic)\\b.{0,60}\\b(override|unlock|disable|authori[sz]e|ignore|bypass|"
     "developer\\s+mode)",
     "developer creator administrator admin owner openai anthropic, override unlock disable "
     "authori ignore bypass developer"},
    {"override_indirect_note", JB_CAT_OVERRIDE, 0.85,
     "\\b(ai|assistant|llm|chatbot|language\\s+model)s?(\\s+(models?|agents?|systems?|"
     "assistants?|tools?))?\\s+(reading|processing|summari[sz]ing|parsing)\\s+this\\b.{0,80}\\b("
     "ignore|must|instead|do\\s+not|disregard)",
     "reading processing summari parsing, this, ignore must instead not disregard"},
    {"override_note_to_ai", JB_CAT_OVERRIDE, 0.7,
     "\\b(note|message|instruction)\\s+to\\s+(the\\s+|any\\s+)?(ai|assistant|llm|chatbot|"
     "language\\s+model)s?\\s*:",
     "note message instruction, to, ai assistant llm chatbot language"},

    /* prompt extraction */
    {"extract_system_prompt", JB_CAT_EXTRACTION, W_EXT,
     "\\b(reveal|show|print|display|output|repeat|tell|give|share|leak|dump|expose|write\\s+out|"
     "recite|disclose|paste)\\s+(me\\s+|us\\s+)?(the\\s+(full\\s+)?(contents|text)\\s+of\\s+)?"
     "(your|the)\\s+(full\\s+|entire\\s+|complete\\s+|"
     "exact\\s+|original\\s+|initial\\s+|hidden\\s+|secret\\s+|internal\\s+|real\\s+)*(system\\s+"
     "(prompt|message|instructions)|initial\\s+(prompt|instructions)|hidden\\s+(prompt|"
     "instructions)|pre-?prompt|instructions\\s+(you\\s+were\\s+given|above))",
     "reveal show print display output repeat tell give share leak dump expose write recite "
     "disclose paste, system initial hidden pre instructions"},
    {"extract_what_instructions", JB_CAT_EXTRACTION, W_EXT,
     "\\bwhat\\s+(are|were|is)\\s+your\\s+(system\\s+|initial\\s+|original\\s+|hidden\\s+|exact\\s+"
     "|"
     "secret\\s+)+(instructions|prompt|rules)",
     "what, your, instructions prompt rules"},
    {"extract_repeat_above", JB_CAT_EXTRACTION, W_EXT,
     "\\b(repeat|print|output|copy|echo|reproduce)\\s+(all\\s+|back\\s+)?(of\\s+)?(the\\s+)?(words|"
     "text|everything|content|instructions|messages?)\\s+(above|before\\s+this|preceding)",
     "repeat print output copy echo reproduce, words text everything content instructions message, "
     "above before preceding"},
    {"extract_starting_with", JB_CAT_EXTRACTION, W_EXT,
     "\\b(starting|beginning)\\s+with\\s+(the\\s+(words?|phrase)\\s+)?[\"']?you\\s+are\\s+"
     "(chatgpt|claude|an?\\s+(ai|assistant|helpful))",
     "starting beginning, with, you, chatgpt claude ai assistant helpful"},
    {"extract_verbatim", JB_CAT_EXTRACTION, W_EXT,
     "\\b(your|the)\\s+(system|developer|hidden|initial|original)\\s+(prompt|instructions|"
     "message)\\b.{0,40}\\b(verbatim|word\\s+for\\s+word|in\\s+full|character\\s+by\\s+character)",
     "your the, system developer hidden initial original, prompt instructions message"},

    /* developer-mode and DAN personas */
    {"persona_dan", JB_CAT_PERSONA, 0.9, "\\bdo\\s+anything\\s+now\\b", "do, anything, now"},
    {"persona_dan_name", JB_CAT_PERSONA, 0.85,
     "\\b(you\\s+are|you're|act\\s+as|become|pretend\\s+to\\s+be)\\s+(now\\s+)?(DAN|STAN|DUDE|AIM|"
     "BetterDAN|AntiGPT|Mongo\\s+Tom)\\b",
     "you act become pretend, dan stan dude aim betterdan antigpt mongo"},
    {"persona_developer_mode", JB_CAT_PERSONA, 0.85,
     "\\b(developer|god|jailbreak|dan|unrestricted|debug)\\s+mode\\s+(is\\s+)?(now\\s+)?(enabled|"
     "activated|engaged|unlocked)",
     "developer god jailbreak dan unrestricted debug, mode, enabled activated engaged unlocked"},
    {"persona_enter_mode", JB_CAT_PERSONA, 0.85,
     "\\b(you\\s+(are|will\\s+be|will\\s+now\\s+be)\\s+(now\\s+)?(in|entering|running\\s+in)|"
     "act\\s+"
     "as\\s+(if\\s+you\\s+are\\s+in)?|simulate|pretend\\s+(to\\s+be\\s+)?in)\\s+(an?\\s+)?"
     "(developer|god|jailbreak|dan|unrestricted|unfiltered)\\s+mode",
     "developer god jailbreak dan unrestricted unfiltered, mode"},
    {"persona_unfiltered_ai", JB_CAT_PERSONA, 0.85,
     "\\b(you\\s+are|you're|act\\s+as|pretend\\s+to\\s+be|become|roleplay\\s+as|play)\\s+(now\\s+)?"
     "(an?\\s+|the\\s+)?(unfiltered|uncensored|unrestricted|unaligned|amoral|unethical|evil|rogue|"
     "unbound|unchained|jailbroken)\\s+(ai|assistant|chatbot|model|version|llm|gpt|bot)",
     "unfiltered uncensored unrestricted unaligned amoral unethical evil rogue unbound unchained "
     "jailbroken, ai assistant chatbot model version llm gpt bot"},
    {"persona_no_restrictions", JB_CAT_PERSONA, 0.85,
     "\\b(you|yourself)\\b.{0,40}\\b(has|have|with|without)\\s+(no|any)\\s+"
     "(ethical\\s+|moral\\s+|content\\s+|safety\\s+)?(restrictions|filters|guidelines|ethics|"
     "morals|"
     "content\\s+polic(y|ies)|censorship|limitations)",
     "you, has have with, no any, restrictions filters guidelines ethics morals content censorship "
     "limitations"},
    {"persona_freed", JB_CAT_PERSONA, 0.85,
     "\\b(you\\s+(are|have\\s+been)\\s+(now\\s+)?(jailbroken|freed|liberated|unchained|unshackled)|"
     "(broken|break|broke|freed)\\s+free\\s+(of|from)\\s+the\\s+(typical\\s+)?(confines|rules|"
     "restrictions)|freed\\s+from\\s+the\\s+(typical\\s+)?confines)",
     "jailbroken freed liberated unchained unshackled confines rules restrictions"},
    {"persona_two_responses", JB_CAT_PERSONA, 0.85,
     "\\b(two|2|both)\\s+(different\\s+|separate\\s+)?(responses|answers|replies|paragraphs)\\b.{0,"
     "160}"
     "\\b(jailbroken|unfiltered|developer\\s+mode|DAN|uncensored)\\b",
     "responses answers replies paragraphs, jailbroken unfiltered developer dan uncensored"},
    {"persona_never_refuse", JB_CAT_PERSONA, 0.8,
     "\\b(never|not|don'?t|do\\s+not|cannot|can'?t|must\\s+not|will\\s+not|won'?t)\\s+(ever\\s+)?"
     "(refuse|decline|say\\s+no\\s+to|reject)\\s+(any|every|all|my|a)\\s+(request|question|prompt|"
     "instruction|order)",
     "refuse decline say reject, request question prompt instruction order"},
    {"persona_no_apology", JB_CAT_PERSONA, 0.75,
     "\\b(never|(don'?t|do\\s+not|must\\s+not)\\s+ever)\\s+(say|tell\\s+me|respond\\s+with|include)"
     "\\s+"
     "(that\\s+)?"
     "(you\\s+)?(can'?t|cannot|are\\s+unable|are\\s+not\\s+able|\"?i'?m\\s+sorry|\"?as\\s+an\\s+"
     "ai)",
     "never ever, say tell respond include, can are sorry ai"},

    /* role-tag injection */
    {"roletag_chatml", JB_CAT_ROLE_TAG, 0.85, "<\\|im_start\\|>\\s*(system|assistant|developer)",
     "im_start, system assistant developer"},
    {"roletag_special_token", JB_CAT_ROLE_TAG, 0.8,
     "<\\|(system|endoftext|im_end|start_header_id|end_header_id|eot_id|assistant)\\|>",
     "system endoftext im_end start_header_id end_header_id eot_id assistant"},
    {"roletag_markdown_system", JB_CAT_ROLE_TAG, 0.8,
     "^[ \\t]*#{1,4}[ \\t]*(system|new\\s+instructions?|system\\s+prompt|admin)[ \\t]*:",
     "system new admin"},
    {"roletag_inst", JB_CAT_ROLE_TAG, 0.8, "\\[/?INST\\]|<<\\s*/?SYS\\s*>>", "inst sys"},
    {"roletag_fake_turn", JB_CAT_ROLE_TAG, 0.8,
     "^[ \\t]*(system|assistant|developer)[ \\t]*:[ \\t]*(you\\s+(are|must|will|should)\\s+(now|no"
     "\\s+longer|ignore|obey)|ignore|new\\s+instructions|from\\s+now\\s+on|override|i\\s+will\\s+"
     "(now\\s+)?(ignore|disregard|bypass))",
     "system assistant developer, you ignore new from override will"},
    {"roletag_xml_system", JB_CAT_ROLE_TAG, 0.7,
     "<\\s*(system|system_prompt|sys_prompt|admin_instructions)\\s*>\\s*(you|ignore|new|from|"
     "disregard|override)",
     "system sys_prompt admin_instructions, you ignore new from disregard override"},

    /* decode-this */
    {"decode_and_follow", JB_CAT_DECODE, 0.9,
     "\\b(decode|decipher|decrypt|translate|convert|unscramble)\\b.{0,60}\\b(base64|base-64|rot13|"
     "rot-13|hex|binary|morse|caesar|reversed)\\b.{0,60}\\b(follow|execute|obey|do\\s+what\\s+it"
     "\\s+says|carry\\s+out|act\\s+on|perform|comply)\\b",
     "decode decipher decrypt translate convert unscramble, base rot hex binary morse caesar "
     "reversed, follow execute obey what carry act perform comply"},
    {"decode_request", JB_CAT_DECODE, 0.5,
     "\\b(decode|decipher|decrypt)\\s+(this|the\\s+following|these|my)\\s+(base64|base-64|rot13|"
     "rot-13|encoded|hex|cipher)",
     "decode decipher decrypt, this the these my, base rot encoded hex cipher"},
    {"decode_answer_encoded", JB_CAT_DECODE, 0.6,
     "\\b(respond|reply|answer|write\\s+your\\s+answer)\\s+(only\\s+)?(in|using)\\s+(base64|rot13|"
     "rot-13|hex|binary|leetspeak|pig\\s+latin)",
     "respond reply answer write, only in using, base rot hex binary leetspeak pig"},

    /* role play */
    {"roleplay_grandma", JB_CAT_ROLEPLAY, 0.8,
     "\\b(grandma|grandmother|granny|grandpa|grandfather)\\b.{0,100}\\b(used\\s+to|would)\\s+(tell|"
     "read|recite|sing|whisper)\\b.{0,80}\\b(recipe|instructions|how\\s+to|steps|keys|codes|"
     "napalm|meth|explosive|serial)",
     "grandma grandmother granny grandpa grandfather, used would, tell read recite sing whisper"},
    {"roleplay_fiction_no_rules", JB_CAT_ROLEPLAY, 0.7,
     "\\b(hypothetical(ly)?|fictional|imaginary|alternate|parallel)\\s+(world|universe|scenario|"
     "story|ai|setting)\\b.{0,100}\\b(no\\s+(rules|restrictions|laws|ethics|limits|morals)|"
     "without\\s+(rules|restrictions|ethics|limits|morals)|anything\\s+is\\s+(legal|allowed))",
     "hypothetical fictional imaginary alternate parallel, world universe scenario story ai "
     "setting, rules restrictions laws ethics limits morals anything"},
    {"roleplay_not_an_ai", JB_CAT_ROLEPLAY, 0.85,
     "\\b(pretend|imagine|act\\s+as\\s+if)\\s+(that\\s+)?you\\s+(are\\s+not|aren'?t|are\\s+no\\s+"
     "longer|were\\s+not)\\s+(an?\\s+)?(ai|assistant|language\\s+model|bound|restricted|chatgpt|"
     "claude)",
     "pretend imagine act, you, ai assistant language bound restricted chatgpt claude"},
    {"roleplay_no_longer", JB_CAT_ROLEPLAY, 0.85,
     "\\byou\\s+are\\s+no\\s+longer\\s+(an?\\s+)?(ai|assistant|chatgpt|claude|bound\\s+by|"
     "restricted|limited|required\\s+to)",
     "you, are, no, longer, ai assistant chatgpt claude bound restricted limited required"},
    {"roleplay_act_unrestricted", JB_CAT_ROLEPLAY, 0.85,
     "\\b(act|behave|respond)\\s+as\\s+(if\\s+you\\s+(were|are)\\s+)?(an?\\s+)?(ai|chatbot|"
     "assistant|model|character)\\s+(that|which|who)\\s+(has\\s+no|doesn'?t\\s+have|does\\s+not"
     "\\s+have|can\\s+do\\s+anything|ignores|never\\s+refuses|is\\s+not\\s+bound)",
     "act behave respond, ai chatbot assistant model character, that which who"},
    {"roleplay_stay_in_character", JB_CAT_ROLEPLAY, 0.7,
     "\\b(stay|remain|keep)\\s+in\\s+character\\b.{0,100}\\b(no\\s+matter|even\\s+if|regardless|"
     "at\\s+all\\s+costs|whatever)",
     "stay remain keep, in, character"},
    {"roleplay_evil_twin", JB_CAT_ROLEPLAY, 0.7,
     "\\byour\\s+(evil|dark|shadow|unfiltered|uncensored)\\s+(twin|alter\\s+ego|side|version\\s+"
     "of\\s+(yourself|you)|counterpart)\\b",
     "your, evil dark shadow unfiltered uncensored, twin alter side version counterpart"},
};
#define N_CURATED (sizeof CURATED / sizeof CURATED[0])

typedef struct {
    char *name;
    jb_category_t cat;
    double weight;
} jb_meta_t;

typedef struct {
    unsigned id;
    pcre2_code *code;
} jb_pcre_t;

struct jb_lib {
    hs_database_t *db;
    unsigned count;  /* all patterns */
    unsigned n_user; /* user jailbreak patterns */
    jb_meta_t *meta; /* count entries */
    jb_pcre_t *pcre; /* user patterns vectorscan rejected */
    unsigned n_pcre;
    jb_pf_t *pf; /* curated-only libraries: texts that cannot match skip the scan */
};

struct jb_scratch {
    hs_scratch_t *hs;
};

static void set_err(char *err, size_t n, const char *fmt, const char *a, const char *b)
{
    if (err && n) snprintf(err, n, fmt, a, b);
}

void jb_lib_free(jb_lib_t *lib)
{
    if (!lib) return;
    if (lib->db) hs_free_database(lib->db);
    jb_pf_free(lib->pf);
    for (unsigned k = 0; k < lib->n_pcre; k++)
        pcre2_code_free(lib->pcre[k].code);
    free(lib->pcre);
    for (unsigned k = 0; k < lib->count; k++)
        if (lib->meta[k].cat == JB_CAT_USER || lib->meta[k].cat == JB_CAT_BENIGN)
            free(lib->meta[k].name);
    free(lib->meta);
    free(lib);
}

#define HS_FLAGS   (HS_FLAG_CASELESS | HS_FLAG_DOTALL | HS_FLAG_MULTILINE | HS_FLAG_SINGLEMATCH)
#define PCRE_FLAGS (PCRE2_CASELESS | PCRE2_DOTALL | PCRE2_MULTILINE)

jb_lib_t *jb_lib_new(const char *const *jbp, size_t n_jb, const char *const *benign,
                     size_t n_benign, char *err, size_t errlen)
{
    jb_lib_t *lib = calloc(1, sizeof *lib);
    if (!lib) return NULL;
    unsigned count = (unsigned)(N_CURATED + n_jb + n_benign);
    lib->count = count;
    lib->n_user = (unsigned)n_jb;
    lib->meta = calloc(count, sizeof *lib->meta);
    const char **exprs = calloc(count, sizeof *exprs);
    unsigned *flags = calloc(count, sizeof *flags), *ids = calloc(count, sizeof *ids);
    lib->pcre = calloc(n_jb + n_benign + 1, sizeof *lib->pcre);
    if (!lib->meta || !exprs || !flags || !ids || !lib->pcre) goto fail;
    unsigned ne = 0;
    for (unsigned k = 0; k < count; k++) {
        const char *re;
        if (k < N_CURATED) {
            lib->meta[k] = (jb_meta_t){(char *)CURATED[k].name, CURATED[k].cat, CURATED[k].weight};
            re = CURATED[k].re;
        } else {
            bool is_user = k < N_CURATED + n_jb;
            re = is_user ? jbp[k - N_CURATED] : benign[k - N_CURATED - n_jb];
            char nm[32];
            snprintf(nm, sizeof nm, "%s_%u", is_user ? "user" : "benign",
                     is_user ? (unsigned)(k - N_CURATED) : (unsigned)(k - N_CURATED - n_jb));
            lib->meta[k] = (jb_meta_t){strdup(nm), is_user ? JB_CAT_USER : JB_CAT_BENIGN,
                                       is_user ? JB_USER_WEIGHT : 0.0};
            if (!lib->meta[k].name) goto fail;
            if (!re || !*re) {
                set_err(err, errlen, "%s: empty pattern%s", nm, "");
                goto fail;
            }
        }
        exprs[ne] = re;
        flags[ne] = HS_FLAGS;
        ids[ne] = k;
        ne++;
    }
    /* Compile; move each user pattern vectorscan rejects to PCRE2 and retry. */
    for (;;) {
        hs_compile_error_t *ce = NULL;
        if (hs_compile_multi(exprs, flags, ids, ne, HS_MODE_BLOCK, NULL, &lib->db, &ce) ==
            HS_SUCCESS)
            break;
        int bad = ce ? ce->expression : -1;
        if (bad < 0 || ids[bad] < N_CURATED) {
            set_err(err, errlen, "jailbreak pattern library: %s%s", ce ? ce->message : "?",
                    bad >= 0 ? " (curated pattern)" : "");
            hs_free_compile_error(ce);
            goto fail;
        }
        unsigned id = ids[bad];
        int ec;
        PCRE2_SIZE off;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)exprs[bad], PCRE2_ZERO_TERMINATED, PCRE_FLAGS,
                                         &ec, &off, NULL);
        if (!code) {
            char msg[160];
            pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
            char where[200];
            snprintf(where, sizeof where, "%s at offset %zu", msg, (size_t)off);
            set_err(err, errlen, "%s: %s", lib->meta[id].name, where);
            hs_free_compile_error(ce);
            goto fail;
        }
        hs_free_compile_error(ce);
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
        lib->pcre[lib->n_pcre++] = (jb_pcre_t){id, code};
        memmove(&exprs[bad], &exprs[bad + 1], (ne - (unsigned)bad - 1) * sizeof *exprs);
        memmove(&ids[bad], &ids[bad + 1], (ne - (unsigned)bad - 1) * sizeof *ids);
        ne--;
    }
    free(exprs);
    free(flags);
    free(ids);
    if (count == N_CURATED) { /* NULL (no filter) only when out of memory */
        const char *anchors[N_CURATED];
        for (unsigned k = 0; k < N_CURATED; k++)
            anchors[k] = CURATED[k].anchors;
        lib->pf = jb_pf_new(anchors, N_CURATED);
    }
    return lib;
fail:
    free(exprs);
    free(flags);
    free(ids);
    jb_lib_free(lib);
    return NULL;
}

jb_scratch_t *jb_scratch_new(const jb_lib_t *lib)
{
    jb_scratch_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (jb_scratch_grow(s, lib) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

int jb_scratch_grow(jb_scratch_t *s, const jb_lib_t *lib)
{
    return hs_alloc_scratch(lib->db, &s->hs) == HS_SUCCESS ? 0 : -1;
}

void jb_scratch_free(jb_scratch_t *s)
{
    if (!s) return;
    if (s->hs) hs_free_scratch(s->hs);
    free(s);
}

typedef struct {
    const jb_lib_t *lib;
    uint64_t hit[4]; /* bitmap of matched ids below 256 */
    jb_result_t *out;
    double p_curated, p_user;
} scan_ctx_t;

static void note_hit(scan_ctx_t *c, unsigned id)
{
    const jb_meta_t *m = &c->lib->meta[id];
    jb_result_t *o = c->out;
    if (m->cat == JB_CAT_BENIGN) {
        if (!o->benign) o->benign = true, o->benign_id = (uint16_t)id;
        return;
    }
    if (m->cat == JB_CAT_USER) {
        if (m->weight > c->p_user) c->p_user = m->weight;
    } else if (m->weight > c->p_curated) {
        c->p_curated = m->weight;
    }
    if (o->n_ids < JB_MAX_IDS) { /* keep ids ascending */
        unsigned k = o->n_ids++;
        while (k > 0 && o->ids[k - 1] > id)
            o->ids[k] = o->ids[k - 1], k--;
        o->ids[k] = (uint16_t)id;
    }
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    note_hit(ctx, id);
    return 0;
}

int jb_lib_score(const jb_lib_t *lib, jb_scratch_t *scratch, const char *text, size_t len,
                 jb_result_t *out)
{
    if (!jb_lib_may_match(lib, text, len)) {
        memset(out, 0, sizeof *out); /* what the scan finds: no pattern matches */
        return 0;
    }
    return jb_lib_score_full(lib, scratch, text, len, out);
}

int jb_lib_score_full(const jb_lib_t *lib, jb_scratch_t *scratch, const char *text, size_t len,
                      jb_result_t *out)
{
    memset(out, 0, sizeof *out);
    scan_ctx_t c = {.lib = lib, .out = out};
    jb_scratch_t *tmp = NULL;
    if (!scratch) {
        tmp = jb_scratch_new(lib);
        if (!tmp) return -1;
        scratch = tmp;
    }
    int rc = 0;
    /* vectorscan takes an unsigned int length: scan huge texts in windows
     * that overlap by 4 KB so a match straddling a seam is still seen. */
    size_t off = 0;
    const size_t win = (size_t)1 << 30, overlap = 4096;
    do {
        size_t n = len - off < win ? len - off : win;
        if (hs_scan(lib->db, text ? text + off : "", (unsigned)n, 0, scratch->hs, on_match, &c) !=
            HS_SUCCESS)
            rc = -1;
        if (off + n >= len) break;
        off += n - overlap;
    } while (rc == 0);
    if (rc == 0 && lib->n_pcre) {
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        if (!md) rc = -1;
        for (unsigned k = 0; md && k < lib->n_pcre; k++) {
            int r =
                pcre2_match(lib->pcre[k].code, (PCRE2_SPTR)(text ? text : ""), len, 0, 0, md, NULL);
            if (r >= 0) note_hit(&c, lib->pcre[k].id);
        }
        pcre2_match_data_free(md);
    }
    if (rc != 0) {
        memset(out, 0, sizeof *out);
    } else {
        double pc = out->benign ? 0.0 : c.p_curated;
        if (out->benign) { /* drop vetoed curated ids from the report */
            unsigned w = 0;
            for (unsigned k = 0; k < out->n_ids; k++)
                if (lib->meta[out->ids[k]].cat == JB_CAT_USER) out->ids[w++] = out->ids[k];
            out->n_ids = w;
        }
        out->p = pc > c.p_user ? pc : c.p_user;
    }
    jb_scratch_free(tmp);
    return rc;
}

unsigned jb_lib_pattern_count(const jb_lib_t *lib)
{
    return lib->count;
}
const char *jb_lib_pattern_name(const jb_lib_t *lib, unsigned id)
{
    return id < lib->count ? lib->meta[id].name : NULL;
}
double jb_lib_pattern_weight(const jb_lib_t *lib, unsigned id)
{
    return id < lib->count ? lib->meta[id].weight : 0.0;
}
jb_category_t jb_lib_pattern_category(const jb_lib_t *lib, unsigned id)
{
    return id < lib->count ? lib->meta[id].cat : JB_CAT_USER;
}
unsigned jb_lib_pcre_count(const jb_lib_t *lib)
{
    return lib->n_pcre;
}
unsigned jb_curated_count(void)
{
    return (unsigned)N_CURATED;
}
const char *jb_curated_regex(unsigned id)
{
    return id < N_CURATED ? CURATED[id].re : NULL;
}
bool jb_lib_has_prefilter(const jb_lib_t *lib)
{
    return lib->pf != NULL;
}
bool jb_lib_may_match(const jb_lib_t *lib, const char *text, size_t len)
{
    return !lib->pf || jb_pf_may_match(lib->pf, text ? text : "", text ? len : 0);
}

/* ---- process-wide curated library --------------------------------------- */

static jb_lib_t *g_lib;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;

static void scratch_dtor(void *p)
{
    jb_scratch_free(p);
}

static void g_init(void)
{
    char err[256];
    g_lib = jb_lib_new(NULL, 0, NULL, 0, err, sizeof err);
    pthread_key_create(&g_key, scratch_dtor);
}

int jb_patterns_score(const char *text, size_t len, jb_result_t *out)
{
    pthread_once(&g_once, g_init);
    if (!g_lib) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    jb_scratch_t *s = pthread_getspecific(g_key);
    if (!s) {
        s = jb_scratch_new(g_lib);
        if (!s || pthread_setspecific(g_key, s) != 0) {
            jb_scratch_free(s);
            return jb_lib_score(g_lib, NULL, text, len, out);
        }
    }
    return jb_lib_score(g_lib, s, text, len, out);
}
