/*
 * template_rpc.c - ListTemplates, GetTemplate, PutTemplate, DeleteTemplate:
 * the RPC face of core/templates.c. Called on worker threads.
 */
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

	return template_lookup(call, "name", in->name, &resp->template_);
}

int
rpc_put_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__PutTemplateRequest *in = (const Berth__V1__PutTemplateRequest *)req;
	Berth__V1__PutTemplateResponse *resp = (Berth__V1__PutTemplateResponse *)reply;
	bool created = false;
	int code;

	code = template_put(call, in->template_, &created, &resp->template_);
	resp->created = created;
	return code;
}

int
rpc_delete_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__DeleteTemplateRequest *in = (const Berth__V1__DeleteTemplateRequest *)req;

	(void)reply;
	return template_delete(call, in->name);
}
