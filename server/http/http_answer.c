/*
 * http_answer.c - status mapping and JSON error bodies (http_answer.h).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/http_answer.h"
#include "status.h"

unsigned
http_status_of_code(int code)
{
	switch (code) {
	case BERTH__V1__CODE__OK:
		return 200;
	case BERTH__V1__CODE__INVALID_ARGUMENT:
	case BERTH__V1__CODE__FAILED_PRECONDITION:
	case BERTH__V1__CODE__OUT_OF_RANGE:
		return 400;
	case BERTH__V1__CODE__UNAUTHENTICATED:
		return 401;
	case BERTH__V1__CODE__PERMISSION_DENIED:
		return 403;
	case BERTH__V1__CODE__NOT_FOUND:
		return 404;
	case BERTH__V1__CODE__ALREADY_EXISTS:
	case BERTH__V1__CODE__ABORTED:
		return 409;
	case BERTH__V1__CODE__RESOURCE_EXHAUSTED:
		return 429;
	case BERTH__V1__CODE__CANCELLED:
		return 499;
	case BERTH__V1__CODE__UNIMPLEMENTED:
		return 501;
	case BERTH__V1__CODE__UNAVAILABLE:
		return 503;
	case BERTH__V1__CODE__DEADLINE_EXCEEDED:
		return 504;
	default:
		return 500;
	}
}

static json_t *
detail_json(const char *field, const char *reason, const char *description)
{
	return json_pack("{s:s,s:s,s:s}", "field", field != NULL ? field : "", "reason",
	    reason != NULL ? reason : "", "description", description != NULL ? description : "");
}

/* Takes `details` (a JSON array, may be NULL). */
static void
set_error(struct http_answer *a, unsigned status, int code, const char *message, json_t *details)
{
	static const char fallback[] = "{\"code\":\"RESOURCE_EXHAUSTED\",\"message\":\"out of memory\","
				       "\"details\":[]}";
	json_t *body = json_pack("{s:s,s:s,s:o}", "code", status_code_name(code), "message",
	    message != NULL ? message : "", "details", details != NULL ? details : json_array());

	http_answer_clear(a);
	a->status = status != 0 ? status : http_status_of_code(code);
	a->content_type = "application/json";
	a->api = true;
	a->body = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(body);
	if (a->body == NULL)
		a->body = strdup(fallback);
	a->len = a->body != NULL ? strlen(a->body) : 0;
}

void
http_answer_error(struct http_answer *a, unsigned status, int code, const char *message,
    Berth__V1__ErrorDetail *const *details, size_t n_details)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n_details && list != NULL; i++)
		json_array_append_new(list,
		    detail_json(details[i]->field, details[i]->reason, details[i]->description));
	set_error(a, status, code, message, list);
}

void
http_answer_error_detail(struct http_answer *a, unsigned status, int code, const char *field,
    const char *reason, const char *message)
{
	json_t *list = json_array();

	if (list != NULL && ((field != NULL && field[0] != '\0') || (reason != NULL && reason[0] != '\0')))
		json_array_append_new(list, detail_json(field, reason, message));
	set_error(a, status, code, message, list);
}

void
http_answer_clear(struct http_answer *a)
{
	if (a == NULL)
		return;
	free(a->body);
	a->body = NULL;
	a->len = 0;
}
