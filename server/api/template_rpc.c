/*
 * template_rpc.c - ListTemplates, GetTemplate, PutTemplate, DeleteTemplate.
 * Called on worker threads; each uses its worker's registry connection.
 */
#include <limits.h>
#include <string.h>

#include "core/berthd.h"
#include "core/build_root.h"
#include "api/template_rpc.h"

int
template_not_found(struct call *call, const char *name)
{
	char *names = NULL;

	if (registry_template_names(call_registry(call), &call->arena, &names) != 0)
		names = "(unknown)";
	return call_fail_detail(call, BERTH__V1__CODE__NOT_FOUND, "name", "TEMPLATE_NOT_FOUND",
	    "Template '%s' not found. Available templates: %s", name, names);
}

int
template_lookup(struct call *call, const char *field, const char *name,
    Berth__V1__Template **out)
{
	struct validation_error err;
	int code;

	if (validate_name(field, name, &err) != 0)
		return call_fail_invalid(call, &err);
	code = registry_template_get(call_registry(call), &call->arena, name, out);
	if (code == BERTH__V1__CODE__NOT_FOUND)
		return template_not_found(call, name);
	if (code != 0)
		return call_fail(call, code, "%s", registry_errmsg(call_registry(call)));
	return 0;
}

int
rpc_list_templates(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	Berth__V1__ListTemplatesResponse *resp = (Berth__V1__ListTemplatesResponse *)reply;
	int code;

	(void)req;
	code = registry_template_list(call_registry(call), &call->arena, &resp->templates,
	    &resp->n_templates);
	if (code != 0)
		return call_fail(call, code, "%s", registry_errmsg(call_registry(call)));
	return 0;
}

int
rpc_get_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__GetTemplateRequest *in = (const Berth__V1__GetTemplateRequest *)req;
	Berth__V1__GetTemplateResponse *resp = (Berth__V1__GetTemplateResponse *)reply;

	return template_lookup(call, "name", in->name, &resp->template_);
}

int
rpc_put_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__PutTemplateRequest *in = (const Berth__V1__PutTemplateRequest *)req;
	Berth__V1__PutTemplateResponse *resp = (Berth__V1__PutTemplateResponse *)reply;
	struct validation_error err;
	protobuf_c_boolean created;
	char resolved[PATH_MAX], why[PATH_MAX + 128];
	bool was_created;
	int code;

	if (validate_template(in->template_, &err) != 0)
		return call_fail_invalid(call, &err);
	if (in->template_->build_context[0] != '\0' &&
	    build_root_resolve(call_berthd(call)->build_root, in->template_->build_context, resolved,
		sizeof(resolved), why, sizeof(why)) != 0)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "template.build_context", "OUTSIDE_BUILD_ROOT", "template.build_context: %s", why);
	code = registry_template_put(call_registry(call), in->template_, &was_created);
	if (code != 0)
		return call_fail(call, code, "%s", registry_errmsg(call_registry(call)));
	created = was_created;
	resp->created = created;
	/* Answer what is stored now, exactly as GetTemplate would. */
	return template_lookup(call, "template.name", in->template_->name, &resp->template_);
}

int
rpc_delete_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__DeleteTemplateRequest *in = (const Berth__V1__DeleteTemplateRequest *)req;
	struct validation_error err;
	int code;

	(void)reply;
	if (validate_name("name", in->name, &err) != 0)
		return call_fail_invalid(call, &err);
	code = registry_template_delete(call_registry(call), in->name);
	if (code == BERTH__V1__CODE__NOT_FOUND)
		return template_not_found(call, in->name);
	if (code == BERTH__V1__CODE__FAILED_PRECONDITION)
		return call_fail_detail(call, code, "name", "TEMPLATE_IN_USE", "%s",
		    registry_errmsg(call_registry(call)));
	if (code != 0)
		return call_fail(call, code, "%s", registry_errmsg(call_registry(call)));
	return 0;
}
