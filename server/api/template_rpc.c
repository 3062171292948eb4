/*
 * template_rpc.c - ListTemplates, GetTemplate, PutTemplate, DeleteTemplate,
 * UpdateTemplate, ListTemplateRevisions: the RPC face of core/templates.c
 * and core/revisions.c. Called on worker threads.
 */
#include <string.h>

#include "api/api.h"
#include "core/templates.h"

int
rpc_list_templates(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	Berth__V1__ListTemplatesResponse *resp = (Berth__V1__ListTemplatesResponse *)reply;

	(void)req;
	return template_list(call, &resp->templates, &resp->n_templates);
}

int
rpc_get_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__GetTemplateRequest *in = (const Berth__V1__GetTemplateRequest *)req;
	Berth__V1__GetTemplateResponse *resp = (Berth__V1__GetTemplateResponse *)reply;

	return template_revision_lookup(call, in->name, in->revision, &resp->template_);
}

int
rpc_put_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__PutTemplateRequest *in = (const Berth__V1__PutTemplateRequest *)req;
	Berth__V1__PutTemplateResponse *resp = (Berth__V1__PutTemplateResponse *)reply;
	struct template_put_result result;
	int code;

	memset(&result, 0, sizeof(result));
	code = template_put(call, in->template_, &result, &resp->template_);
	resp->created = result.created;
	resp->reset_fields = result.reset;
	resp->n_reset_fields = result.n_reset;
	return code;
}

int
rpc_delete_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__DeleteTemplateRequest *in = (const Berth__V1__DeleteTemplateRequest *)req;

	(void)reply;
	return template_delete(call, in->name);
}

int
rpc_update_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__UpdateTemplateRequest *in = (const Berth__V1__UpdateTemplateRequest *)req;
	Berth__V1__UpdateTemplateResponse *resp = (Berth__V1__UpdateTemplateResponse *)reply;

	return template_update(call, in->template_, in->fields, in->n_fields, &resp->template_,
	    &resp->changed, &resp->n_changed);
}

int
rpc_list_template_revisions(struct call *call, const ProtobufCMessage *req,
    ProtobufCMessage *reply)
{
	const Berth__V1__ListTemplateRevisionsRequest *in =
	    (const Berth__V1__ListTemplateRevisionsRequest *)req;
	Berth__V1__ListTemplateRevisionsResponse *resp =
	    (Berth__V1__ListTemplateRevisionsResponse *)reply;

	return template_revisions(call, in->name, &resp->revisions, &resp->n_revisions);
}
