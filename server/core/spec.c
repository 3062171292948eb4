/*
 * spec.c - a Spec checked as a whole and compared with the registry: the
 * plan that PlanSpec answers and ApplySpec makes so (spec.h).
 *
 * Checking reports every mistake, not the first: validate_template stops
 * at the first bad field, so the field it names is put right in a private
 * shallow copy (made zero, or a known good value) and the template is
 * checked again, until it passes. Each mistake becomes an ErrorDetail
 * whose field is a path in the spec's terms ("templates.web.image").
 *
 * Called on RPC workers; reads the registry through the call's connection.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_fields.h"
#include "validate.h"
#include "core/berthd.h"
#include "core/spec_internal.h"
#include "core/templates.h"

/* Times one template is checked again after a mistake was put right. */
#define SPEC_CHECK_ROUNDS 48

/* --- paths and mistakes ------------------------------------------------------ */

/* "template.port_range_start" of template `name` -> "templates.web.port_range_start". */
static const char *
spec_path(struct call *call, const char *name, const char *field)
{
	const char *rest = field;

	if (strncmp(field, "template", 8) == 0 && (field[8] == '.' || field[8] == '\0'))
		rest = field + 8;
	else if (field[0] != '\0')
		return arena_printf(&call->arena, "templates.%s.%s", name, field);
	return arena_printf(&call->arena, "templates.%s%s", name, rest);
}

/* Adds one mistake as an ErrorDetail; the message's own "template." becomes the spec path. */
static void
add_mistake(struct call *call, size_t *count, const char *name, const struct error *err)
{
	const char *path = spec_path(call, name, err->field);
	const char *msg = err->message;
	size_t flen = strlen(err->field);

	if (flen > 0 && strncmp(msg, err->field, flen) == 0)
		msg = arena_printf(&call->arena, "%s%s", path, msg + flen);
	else
		msg = arena_printf(&call->arena, "%s: %s", path, msg);
	call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, path,
	    err->reason[0] != '\0' ? err->reason : "INVALID_ARGUMENT", "%s", msg);
	(*count)++;
}

/* --- putting one field right, through the descriptor ------------------------- */

/* Bytes of a single value of this type in a message struct. */
static size_t
value_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4;
	}
}

/*
 * Makes the field at `path` ("port_range_start", "health.interval_s",
 * "env[2]": a list is emptied whole) of msg, a shallow copy in the arena,
 * what it is in ref (NULL: its zero value). Messages on the way are copied
 * first, so nothing the caller shares changes. False when the path names
 * nothing that can be put right.
 */
static bool
reset_path(struct arena *a, ProtobufCMessage *msg, const ProtobufCMessage *ref, const char *path)
{
	const ProtobufCFieldDescriptor *fd;
	size_t len = strcspn(path, ".[");
	char name[64];
	char *at;

	if (len == 0 || len >= sizeof(name))
		return false;
	memcpy(name, path, len);
	name[len] = '\0';
	fd = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
	if (fd == NULL)
		return false;
	at = (char *)msg + fd->offset;
	if (path[len] == '.' && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
	    fd->label != PROTOBUF_C_LABEL_REPEATED) {
		ProtobufCMessage *sub = *(ProtobufCMessage **)at, *copy;
		const ProtobufCMessage *ref_sub =
		    ref != NULL ? *(ProtobufCMessage *const *)((const char *)ref + fd->offset) : NULL;

		if (sub == NULL)
			return false;
		copy = arena_alloc(a, sub->descriptor->sizeof_message);
		memcpy(copy, sub, sub->descriptor->sizeof_message);
		*(ProtobufCMessage **)at = copy;
		return reset_path(a, copy, ref_sub, path + len + 1);
	}
	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		*(size_t *)((char *)msg + fd->quantifier_offset) = 0;
		*(void **)at = NULL;
		return true;
	}
	if (ref != NULL)
		memcpy(at, (const char *)ref + fd->offset, value_size(fd->type));
	else if (fd->type == PROTOBUF_C_TYPE_STRING)
		*(const char **)at = "";
	else
		memset(at, 0, value_size(fd->type));
	if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset != 0 &&
	    fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)((char *)msg + fd->quantifier_offset) = ref != NULL;
	return true;
}

/* A template validate_template accepts, whose values put a bad field right. */
static void
good_template(Berth__V1__Template *t)
{
	berth__v1__template__init(t);
	t->name = "x";
	t->image = "x";
	t->container_port = 80;
	t->port_range_start = 8000;
	t->restart = "on-failure";
	t->max_restarts = TEMPLATE_MAX_RESTARTS;
	t->restart_window_s = TEMPLATE_RESTART_WINDOW_S;
}

/*
 * Every mistake of one (normalized) template, each added to the call.
 * Returns how many were found.
 */
static size_t
check_template(struct call *call, const char *name, const Berth__V1__Template *normal)
{
	Berth__V1__Template copy = *normal, good;
	char last[ERROR_FIELD_MAX] = "";
	struct error err;
	size_t count = 0;
	int tries = 0;

	good_template(&good);
	for (int round = 0; round < SPEC_CHECK_ROUNDS; round++) {
		const char *field;

		if (validate_template(&copy, &err) == 0)
			break;
		/* The same field again: the zero value did not do, the good one must. */
		if (strcmp(err.field, last) == 0) {
			tries++;
		} else {
			add_mistake(call, &count, name, &err);
			snprintf(last, sizeof(last), "%s", err.field);
			tries = 0;
		}
		field = strncmp(err.field, "template.", 9) == 0 ? err.field + 9 : "";
		if (tries == 0 && reset_path(&call->arena, &copy.base, NULL, field))
			continue;
		if (tries <= 1) {
			/* The whole top-level field from the good template. */
			char top[64];
			size_t len = strcspn(field, ".[");

			if (len > 0 && len < sizeof(top)) {
				memcpy(top, field, len);
				top[len] = '\0';
				if (reset_path(&call->arena, &copy.base, &good.base, top)) {
					tries = 1;
					continue;
				}
			}
		}
		break; /* nothing more to learn from this template */
	}
	return count;
}

/* The instances part: a count in range, or valid names, each once. */
static size_t
check_instances(struct call *call, const char *name, const Berth__V1__SpecTemplate *st)
{
	struct error err;
	size_t count = 0;

	if (st->n_instance_names == 0) {
		if (validate_scale_instances("instances", st->instances, &err) != 0)
			add_mistake(call, &count, name, &err);
		return count;
	}
	for (size_t i = 0; i < st->n_instance_names; i++) {
		char field[32];

		snprintf(field, sizeof(field), "instances[%zu]", i);
		if (validate_instance_name(field, st->instance_names[i], &err) != 0) {
			add_mistake(call, &count, name, &err);
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(st->instance_names[j], st->instance_names[i]) == 0) {
				error_set_field(&err, BERTH__V1__CODE__INVALID_ARGUMENT, field,
				    "DUPLICATE", "instance '%s' is named twice", st->instance_names[i]);
				add_mistake(call, &count, name, &err);
				break;
			}
	}
	if (st->n_instance_names > SCALE_INSTANCES_MAX) {
		error_set_field(&err, BERTH__V1__CODE__INVALID_ARGUMENT, "instances", "OUT_OF_RANGE",
		    "at most %d instances", SCALE_INSTANCES_MAX);
		add_mistake(call, &count, name, &err);
	}
	return count;
}

/*
 * Checks the whole spec before anything: each template's fields, names
 * given once, its instances. Then the checks that read berthd's state
 * (template_check: probes, kept secrets, the build root), for templates
 * whose fields are right. Fills plan->entries. INVALID_ARGUMENT with every
 * mistake as a detail.
 */
static int
check_spec(struct call *call, const Berth__V1__Spec *spec, struct spec_plan *plan)
{
	size_t n = spec != NULL ? spec->n_templates : 0, mistakes = 0;
	struct error err;

	if (n > SPEC_TEMPLATES_MAX)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "templates",
		    "OUT_OF_RANGE", "templates: at most %d in one spec", SPEC_TEMPLATES_MAX);
	plan->entries = n > 0 ? ARENA_ARRAY(&call->arena, struct spec_entry, n) : NULL;
	plan->n_entries = n;
	for (size_t i = 0; i < n; i++) {
		const Berth__V1__SpecTemplate *st = spec->templates[i];
		struct spec_entry *e = &plan->entries[i];
		size_t found = 0;

		memset(e, 0, sizeof(*e));
		e->in = st;
		if (st == NULL || st->template_ == NULL) {
			e->name = arena_printf(&call->arena, "[%zu]", i);
			error_set_field(&err, BERTH__V1__CODE__INVALID_ARGUMENT, "template", "MISSING",
			    "a template needs its fields");
			add_mistake(call, &mistakes, e->name, &err);
			continue;
		}
		e->name = st->template_->name;
		if (validate_name("name", e->name, NULL) != 0)
			e->name = arena_printf(&call->arena, "[%zu]", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(plan->entries[j].name, e->name) == 0) {
				error_set_field(&err, BERTH__V1__CODE__INVALID_ARGUMENT, "template",
				    "DUPLICATE", "template '%s' is declared twice", e->name);
				add_mistake(call, &found, e->name, &err);
			}
		e->by_name = st->n_instance_names > 0;
		template_normalize(call, st->template_, &e->normal);
		found += check_template(call, e->name, &e->normal);
		found += check_instances(call, e->name, st);
		if (found == 0) {
			struct error saved = call->error;
			size_t kept = call->n_details;

			/* template_check reports through the call: turn it into a spec mistake. */
			if (template_check(call, &e->normal) != 0) {
				err = call->error;
				call->error = saved;
				call->n_details = kept;
				add_mistake(call, &found, e->name, &err);
			}
		}
		mistakes += found;
	}
	if (mistakes == 0)
		return 0;
	return call_fail(call, BERTH__V1__CODE__INVALID_ARGUMENT,
	    "the spec has %zu mistake%s%s; nothing was changed", mistakes, mistakes == 1 ? "" : "s",
	    mistakes > CALL_DETAILS_MAX ? " (the first ones are listed)" : "");
}

/* --- the plan ---------------------------------------------------------------- */

static Berth__V1__PlanChange *
add_change(struct call *call, struct spec_plan *plan, size_t *cap, const char *action,
    const char *template_name, const char *service_id, const char *detail)
{
	Berth__V1__PlanChange *c = ARENA_NEW(&call->arena, Berth__V1__PlanChange);

	berth__v1__plan_change__init(c);
	c->action = (char *)action;
	c->template_ = (char *)template_name;
	c->service_id = arena_strdup(&call->arena, service_id != NULL ? service_id : "");
	c->detail = arena_strdup(&call->arena, detail != NULL ? detail : "");
	if (plan->n_changes == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		Berth__V1__PlanChange **grown = ARENA_ARRAY(&call->arena, Berth__V1__PlanChange *,
		    ncap);

		if (plan->n_changes > 0)
			memcpy(grown, plan->changes, plan->n_changes * sizeof(*grown));
		plan->changes = grown;
		*cap = ncap;
	}
	plan->changes[plan->n_changes++] = c;
	return c;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Whether the spec's secrets differ from the stored ones: compared as
 * sorted "KEY=VALUE" lists, "KEY=***" standing for the stored value.
 */
static int
secrets_differ(struct call *call, const struct spec_entry *e, bool *differ)
{
	char **stored = NULL, **want;
	size_t n_stored = 0, n = e->normal.n_secret_env;

	if (template_secret_values(call, e->name, &stored, &n_stored) != 0)
		return -1;
	*differ = n != n_stored;
	if (*differ || n == 0)
		return 0;
	/*
	 * Below admin (who may write them anyway) only the keys are compared:
	 * a plan must not answer "is the stored value X?" to a viewer.
	 */
	if (call->role < RPC_ROLE_ADMIN) {
		for (size_t i = 0; i < n && !*differ; i++) {
			size_t klen = validate_env_key_len(e->normal.secret_env[i]);
			bool found = false;

			for (size_t j = 0; j < n_stored && !found; j++)
				found = strncmp(stored[j], e->normal.secret_env[i], klen + 1) == 0;
			*differ = !found;
		}
		return 0;
	}
	want = ARENA_ARRAY(&call->arena, char *, n);
	for (size_t i = 0; i < n; i++) {
		const char *s = e->normal.secret_env[i];
		size_t klen = validate_env_key_len(s);

		want[i] = (char *)s;
		if (strcmp(s + klen, "=" SECRET_MASK) != 0)
			continue;
		for (size_t j = 0; j < n_stored; j++)
			if (strncmp(stored[j], s, klen + 1) == 0)
				want[i] = stored[j];
	}
	qsort(want, n, sizeof(*want), compare_strings);
	qsort(stored, n_stored, sizeof(*stored), compare_strings);
	for (size_t i = 0; i < n && !*differ; i++)
		*differ = strcmp(want[i], stored[i]) != 0;
	return 0;
}

/*
 * The template's change, if any: create_template, or update_template
 * with the fields that differ (by proto name; secret_env named, never its
 * values). *makes_container: an update changes what containers are made of.
 */
static int
plan_template(struct call *call, struct spec_plan *plan, size_t *cap, struct spec_entry *e,
    bool *makes_container)
{
	const ProtobufCFieldDescriptor *fields;
	Berth__V1__PlanChange *c;
	char **names, *detail = "";
	size_t n_fields, n = 0;

	*makes_container = false;
	fields = template_fields(&n_fields);
	if (e->stored == NULL) {
		c = add_change(call, plan, cap, "create_template", e->name, NULL,
		    arena_printf(&call->arena, "image %s", e->normal.image));
		return c != NULL ? 0 : -1;
	}
	names = ARENA_ARRAY(&call->arena, char *, n_fields);
	for (size_t i = 0; i < n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &fields[i];
		char was[64], now[64];
		bool differ;

		if (strcmp(fd->name, "name") == 0 || strcmp(fd->name, "revision") == 0)
			continue;
		if (strcmp(fd->name, "secret_env") == 0) {
			if (secrets_differ(call, e, &differ) != 0)
				return -1;
		} else {
			differ = !template_field_equal(&e->normal, e->stored, fd);
		}
		if (!differ)
			continue;
		names[n++] = (char *)fd->name;
		if (template_field_makes_container(fd))
			*makes_container = true;
		if (strcmp(fd->name, "secret_env") != 0 &&
		    template_field_format(e->stored, fd, was, sizeof(was)) &&
		    template_field_format(&e->normal, fd, now, sizeof(now)))
			detail = arena_printf(&call->arena, "%s%s%s %s -> %s", detail,
			    detail[0] != '\0' ? ", " : "", fd->name, was, now);
		else
			detail = arena_printf(&call->arena, "%s%s%s changed", detail,
			    detail[0] != '\0' ? ", " : "", fd->name);
	}
	if (n == 0)
		return 0;
	c = add_change(call, plan, cap, "update_template", e->name, NULL, detail);
	c->fields = names;
	c->n_fields = n;
	return 0;
}

/* berth's own "instance_N": N, else 0. */
static unsigned long
auto_number(const char *instance)
{
	char *end;
	unsigned long n;

	if (strncmp(instance, "instance_", 9) != 0 || instance[9] < '1' || instance[9] > '9')
		return 0;
	n = strtoul(instance + 9, &end, 10);
	return *end == '\0' ? n : 0;
}

/* Counts toward `instances: N`, as scale_template counts. */
static bool
counts(const Berth__V1__Service *s)
{
	return strcmp(s->desired_state, DESIRED_RUNNING) == 0 &&
	    strcmp(s->status, STATUS_REMOVING) != 0;
}

static bool
has_instance(const struct spec_entry *e, const char *instance)
{
	for (size_t i = 0; i < e->n_services; i++)
		if (strcmp(e->services[i]->instance, instance) == 0 &&
		    strcmp(e->services[i]->status, STATUS_REMOVING) != 0)
			return true;
	return false;
}

static bool
named_in_spec(const struct spec_entry *e, const char *instance)
{
	for (size_t i = 0; i < e->in->n_instance_names; i++)
		if (strcmp(e->in->instance_names[i], instance) == 0)
			return true;
	return false;
}

/*
 * Launches and removals of a count: the missing ones launched as the next
 * free instance_N (the ids a launch would choose now), the surplus removed
 * highest auto-number first, as scale_template does. *kept: services that
 * stay.
 */
static int
plan_count(struct call *call, struct spec_plan *plan, size_t *cap, struct spec_entry *e,
    bool *stays)
{
	size_t running = 0, want = e->in->instances;

	for (size_t i = 0; i < e->n_services; i++)
		if (counts(e->services[i]))
			running++;
	for (unsigned long number = 1; running < want; number++) {
		char *instance = arena_printf(&call->arena, "instance_%lu", number);

		if (has_instance(e, instance))
			continue;
		add_change(call, plan, cap, "launch", e->name, NULL,
		    arena_printf(&call->arena, "%s_%s", e->name, instance));
		running++;
	}
	while (running > want) {
		size_t best = e->n_services;
		unsigned long best_n = 0;

		for (size_t i = 0; i < e->n_services; i++) {
			unsigned long n = auto_number(e->services[i]->instance);

			if (stays[i] && counts(e->services[i]) && n > best_n) {
				best_n = n;
				best = i;
			}
		}
		if (best == e->n_services) {
			/* Only named ones above N: a count never removes those. */
			return call_fail_detail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
			    arena_printf(&call->arena, "templates.%s.instances", e->name),
			    "NAMED_INSTANCES_ABOVE_COUNT",
			    "templates.%s.instances: %u is fewer than the instances with names of "
			    "their own that run (a count removes only instance_N): list the "
			    "names instead, or remove them",
			    e->name, e->in->instances);
		}
		stays[best] = false;
		add_change(call, plan, cap, "remove", e->name, e->services[best]->service_id,
		    "above the count");
		running--;
	}
	return 0;
}

/*
 * The instances' changes: launches and removals (a count, or names), the
 * outdated ones a rollout replaces, and those the spec does not name
 * (removed with prune, else reported as unmanaged).
 */
static int
plan_instances(struct call *call, struct spec_plan *plan, size_t *cap, struct spec_entry *e,
    bool prune, bool makes_container)
{
	bool *stays = e->n_services > 0 ? ARENA_ARRAY(&call->arena, bool, e->n_services) : NULL;
	size_t outdated = 0;

	for (size_t i = 0; i < e->n_services; i++)
		stays[i] = strcmp(e->services[i]->status, STATUS_REMOVING) != 0;
	if (!e->by_name) {
		if (plan_count(call, plan, cap, e, stays) != 0)
			return call->error.code;
	} else {
		for (size_t i = 0; i < e->in->n_instance_names; i++)
			if (!has_instance(e, e->in->instance_names[i]))
				add_change(call, plan, cap, "launch", e->name,
				    arena_printf(&call->arena, "%s_%s", e->name,
					e->in->instance_names[i]),
				    NULL);
		for (size_t i = 0; i < e->n_services; i++) {
			if (!stays[i] || named_in_spec(e, e->services[i]->instance))
				continue;
			if (prune) {
				stays[i] = false;
				add_change(call, plan, cap, "remove", e->name,
				    e->services[i]->service_id, "not in the spec");
			}
		}
	}
	for (size_t i = 0; i < e->n_services; i++)
		if (stays[i] && (e->services[i]->outdated || makes_container))
			outdated++;
	if (outdated > 0)
		add_change(call, plan, cap, "rollout", e->name, NULL,
		    arena_printf(&call->arena, "%zu outdated", outdated));
	if (e->by_name && !prune)
		for (size_t i = 0; i < e->n_services; i++)
			if (stays[i] && !named_in_spec(e, e->services[i]->instance))
				add_change(call, plan, cap, "unmanaged", e->name,
				    e->services[i]->service_id, "not in the spec; --prune removes it");
	return 0;
}

/* Reads what the registry holds of each template of the spec. */
static int
read_state(struct call *call, struct spec_plan *plan)
{
	struct registry *reg = call_registry(call);

	for (size_t i = 0; i < plan->n_entries; i++) {
		struct spec_entry *e = &plan->entries[i];
		int code = registry_template_get(reg, &call->arena, e->name, &e->stored);

		if (code == BERTH__V1__CODE__NOT_FOUND) {
			e->stored = NULL;
			code = 0;
		}
		if (code == 0)
			code = registry_service_list(reg, &call->arena, e->name, NULL, &e->services,
			    &e->n_services);
		if (code != 0)
			return call_fail_error(call, registry_error(reg));
	}
	return 0;
}

/* --- the fingerprint --------------------------------------------------------- */

/*
 * The fingerprint is keyed with a random key of this process, made once:
 * a fingerprint cannot be computed (or a secret guessed from it) outside
 * berthd, and one from before a restart simply no longer matches.
 */
static unsigned char fingerprint_key[32];
static pthread_once_t fingerprint_key_once = PTHREAD_ONCE_INIT;
static bool fingerprint_key_ok;

static void
fingerprint_key_make(void)
{
	fingerprint_key_ok = RAND_bytes(fingerprint_key, sizeof(fingerprint_key)) == 1;
}

static void
hash_str(EVP_MD_CTX *md, const char *s)
{
	EVP_DigestUpdate(md, s != NULL ? s : "", strlen(s != NULL ? s : "") + 1);
}

static void
hash_message(struct call *call, EVP_MD_CTX *md, const ProtobufCMessage *m)
{
	size_t len = m != NULL ? protobuf_c_message_get_packed_size(m) : 0;
	uint8_t *buf = arena_alloc(&call->arena, len + 1);

	if (m != NULL)
		protobuf_c_message_pack(m, buf);
	EVP_DigestUpdate(md, &len, sizeof(len));
	EVP_DigestUpdate(md, buf, len);
}

/*
 * SHA-256 over this process's key, the spec, prune, the plan and the state it came from: the
 * stored templates (and their secret values, hashed only), their
 * services' ids, states, desired states and revisions.
 */
static int
fingerprint(struct call *call, const Berth__V1__Spec *spec, bool prune, struct spec_plan *plan)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	pthread_once(&fingerprint_key_once, fingerprint_key_make);
	if (md == NULL || !fingerprint_key_ok || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return call_fail(call, BERTH__V1__CODE__INTERNAL, "SHA-256 is not available");
	}
	EVP_DigestUpdate(md, fingerprint_key, sizeof(fingerprint_key));
	hash_message(call, md, spec != NULL ? &spec->base : NULL);
	hash_str(md, prune ? "prune" : "");
	for (size_t i = 0; i < plan->n_changes; i++)
		hash_message(call, md, &plan->changes[i]->base);
	for (size_t i = 0; i < plan->n_entries; i++) {
		const struct spec_entry *e = &plan->entries[i];
		char **secrets = NULL;
		size_t n_secrets = 0;

		hash_message(call, md, e->stored != NULL ? &e->stored->base : NULL);
		if (e->stored != NULL &&
		    template_secret_values(call, e->name, &secrets, &n_secrets) != 0) {
			EVP_MD_CTX_free(md);
			return -1;
		}
		for (size_t j = 0; j < n_secrets; j++)
			hash_str(md, secrets[j]);
		for (size_t j = 0; j < e->n_services; j++) {
			const Berth__V1__Service *s = e->services[j];
			char rev[16];

			snprintf(rev, sizeof(rev), "%u", s->revision);
			hash_str(md, s->service_id);
			hash_str(md, s->status);
			hash_str(md, s->desired_state);
			hash_str(md, rev);
		}
	}
	EVP_DigestFinal_ex(md, digest, &len);
	EVP_MD_CTX_free(md);
	for (unsigned int i = 0; i < len && i < 32; i++)
		snprintf(plan->fingerprint + 2 * i, 3, "%02x", digest[i]);
	return 0;
}

int
spec_plan_compute(struct call *call, const Berth__V1__Spec *spec, bool prune,
    struct spec_plan *plan)
{
	size_t cap = 0;
	int code;

	memset(plan, 0, sizeof(*plan));
	if ((code = check_spec(call, spec, plan)) != 0)
		return code;
	if ((code = read_state(call, plan)) != 0)
		return code;
	for (size_t i = 0; i < plan->n_entries; i++) {
		struct spec_entry *e = &plan->entries[i];
		bool makes_container;

		e->first_change = plan->n_changes;
		if (plan_template(call, plan, &cap, e, &makes_container) != 0)
			return call->error.code != 0 ? call->error.code : BERTH__V1__CODE__INTERNAL;
		if ((code = plan_instances(call, plan, &cap, e, prune, makes_container)) != 0)
			return code;
		e->n_changes = plan->n_changes - e->first_change;
	}
	return fingerprint(call, spec, prune, plan);
}

int
spec_plan(struct call *call, const Berth__V1__Spec *spec, bool prune,
    Berth__V1__PlanChange ***changes, size_t *n_changes, char fp[SPEC_FINGERPRINT_LEN])
{
	struct spec_plan plan;
	int code = spec_plan_compute(call, spec, prune, &plan);

	if (code != 0)
		return code;
	*changes = plan.changes;
	*n_changes = plan.n_changes;
	memcpy(fp, plan.fingerprint, SPEC_FINGERPRINT_LEN);
	return 0;
}
