/* tests/unit/test_envelope.c — change event to SPEC envelope, events, shapes.
 *
 * Change events are written with single quotes for readability; q() turns
 * them into JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "changecast/error.h"
#include "core/buf.h"
#include "core/ejson.h"
#include "core/envelope.h"
#include "core/event.h"

/* ---- helpers ---------------------------------------------------------- */

/* Parses a single-quoted change event. */
static void parse_q(bson_t *doc, const char *text)
{
    size_t n = strlen(text);
    char *json = malloc(n + 1);
    assert_non_null(json);
    for (size_t i = 0; i <= n; i++)
        json[i] = text[i] == '\'' ? '"' : text[i];
    char err[256] = "";
    if (cc_ejson_parse(json, n, doc, err, sizeof err) != 0)
        fail_msg("test input does not parse: %s: %s", err, json);
    free(json);
}

typedef struct built {
    cc_event_vec_t vec;
    int rc;
    char err[256];
} built_t;

/* Builds `text` with an optional shape and optional explicit recipients. */
static void build_ex(built_t *b, const char *text, const char *const *fields, size_t n_fields,
                     const char *recipient, const char *const *recipients, size_t n_recipients)
{
    bson_t doc;
    char err[256];
    parse_q(&doc, text);
    cc_shape_t *shape = NULL;
    if (n_fields || recipient) {
        shape = cc_shape_new(fields, n_fields, recipient, err, sizeof err);
        if (!shape)
            fail_msg("shape: %s", err);
    }
    memset(b, 0, sizeof *b);
    b->rc = cc_envelope_build(&doc, shape, recipients, n_recipients, &b->vec, b->err,
                              sizeof b->err);
    cc_shape_free(shape);
    bson_destroy(&doc);
}

static void build(built_t *b, const char *text, const char *const *fields, size_t n_fields,
                  const char *recipient)
{
    build_ex(b, text, fields, n_fields, recipient, NULL, 0);
}

static void done(built_t *b)
{
    cc_event_vec_free(&b->vec);
}

/* Builds with no shape and expects one event whose envelope is `want`
 * (single quotes for double quotes). */
static void expect_envelope(const char *text, const char *const *fields, size_t n_fields,
                            const char *recipient, const char *want_q)
{
    built_t b;
    build(&b, text, fields, n_fields, recipient);
    if (b.rc != 0)
        fail_msg("build failed: %s", b.err);
    assert_int_equal(b.vec.n, 1);
    char *want = strdup(want_q);
    assert_non_null(want);
    for (char *p = want; *p; p++)
        if (*p == '\'')
            *p = '"';
    assert_string_equal(b.vec.v[0]->json, want);
    assert_int_equal(b.vec.v[0]->json_len, strlen(want));
    free(want);
    done(&b);
}

/* The "data" member of an event's envelope, as text (caller frees). */
static char *data_of(const cc_event_t *ev)
{
    const char *start = strstr(ev->json, ",\"data\":");
    const char *end = strstr(ev->json, ",\"timestamp\":");
    assert_non_null(start);
    assert_non_null(end);
    start += 8;
    char *s = malloc((size_t)(end - start) + 1);
    assert_non_null(s);
    memcpy(s, start, (size_t)(end - start));
    s[end - start] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '"')
            *p = '\'';
    return s;
}

static void expect_data(const char *text, const char *const *fields, size_t n_fields,
                        const char *want_q)
{
    built_t b;
    build(&b, text, fields, n_fields, NULL);
    if (b.rc != 0)
        fail_msg("build failed: %s", b.err);
    assert_int_equal(b.vec.n, 1);
    char *data = data_of(b.vec.v[0]);
    assert_string_equal(data, want_q);
    free(data);
    done(&b);
}

/* A change event with `id_json` as documentKey._id; checks document_id. */
static void expect_document_id(const char *id_json, const char *want)
{
    char text[512];
    snprintf(text, sizeof text,
             "{'_id':{'_data':'T'},'operationType':'delete','ns':{'db':'d','coll':'c'},"
             "'documentKey':{'_id':%s}}",
             id_json);
    built_t b;
    build(&b, text, NULL, 0, NULL);
    if (b.rc != 0)
        fail_msg("build failed: %s", b.err);
    assert_string_equal(b.vec.v[0]->document_id, want);
    /* The envelope carries the same text as a JSON string. */
    cc_buf_t j = CC_BUF_INIT;
    cc_buf_puts(&j, "\"document_id\":");
    cc_buf_json_string(&j, want, strlen(want));
    assert_non_null(strstr(b.vec.v[0]->json, cc_buf_cstr(&j)));
    cc_buf_free(&j);
    done(&b);
}

/* The update event of the SPEC example. */
#define UPDATE_EVENT                                                                   \
    "{'_id':{'_data':'82680684FF0000'},'operationType':'update',"                      \
    "'clusterTime':{'$timestamp':{'t':1745257727,'i':1}},"                             \
    "'wallTime':{'$date':'2025-04-21T17:48:47.405Z'},"                                  \
    "'ns':{'db':'test','coll':'users'},'documentKey':{'_id':'user_123'},"              \
    "'updateDescription':{'updatedFields':{'name':'Ada'},'removedFields':[],"         \
    "'truncatedArrays':[]},"                                                           \
    "'fullDocument':{'_id':'user_123','name':'Ada'}}"

/* An insert whose document has nested documents and arrays. */
#define ORDER_EVENT                                                                    \
    "{'_id':{'_data':'T1'},'operationType':'insert',"                                  \
    "'clusterTime':{'$timestamp':{'t':100,'i':2}},"                                    \
    "'ns':{'db':'shop','coll':'orders'},'documentKey':{'_id':7},"                      \
    "'fullDocument':{'_id':7,'customer':{'id':'c1','address':{'city':'Oslo'}},"        \
    "'items':[{'sku':'a','qty':1},{'sku':'b','qty':2},{'qty':3},{'sku':null}],"        \
    "'tags':['x','y'],'matrix':[[1,2],[3]],'none':null,"                               \
    "'m':{'0':'zero'},'groups':[{'ids':['u1','u2']},{'ids':['u2','u3']},{'ids':'u4'}]}}"

/* ---- operation types: exact envelopes --------------------------------- */

static void update_envelope_matches_spec_example(void **state)
{
    (void)state;
    const char *fields[] = {"fullDocument.name"};
    expect_envelope(UPDATE_EVENT, fields, 1, "fullDocument._id",
                    "{'operation':'update','collection':'users','document_id':'user_123',"
                    "'data':{'fullDocument.name':'Ada'},'timestamp':1745257727.0,"
                    "'namespace':'test','recipient':'user_123','id':'82680684FF0000',"
                    "'cluster_time':{'t':1745257727,'i':1},"
                    "'update':{'updated':{'name':'Ada'},'removed':[]}}");
}

static void update_with_post_image_and_no_fields_sends_the_document(void **state)
{
    (void)state;
    expect_envelope(UPDATE_EVENT, NULL, 0, NULL,
                    "{'operation':'update','collection':'users','document_id':'user_123',"
                    "'data':{'_id':'user_123','name':'Ada'},'timestamp':1745257727.0,"
                    "'namespace':'test','recipient':null,'id':'82680684FF0000',"
                    "'cluster_time':{'t':1745257727,'i':1},"
                    "'update':{'updated':{'name':'Ada'},'removed':[]}}");
}

static void update_without_post_image_has_empty_data(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'update',"
                    "'clusterTime':{'$timestamp':{'t':5,'i':6}},"
                    "'ns':{'db':'d','coll':'c'},'documentKey':{'_id':1},"
                    "'updateDescription':{'updatedFields':{'a.b':{'$date':'2025-04-21T17:48:47.405Z'}},"
                    "'removedFields':['x','y']}}",
                    NULL, 0, NULL,
                    "{'operation':'update','collection':'c','document_id':'1','data':{},"
                    "'timestamp':5.0,'namespace':'d','recipient':null,'id':'T',"
                    "'cluster_time':{'t':5,'i':6},'update':{'updated':"
                    "{'a.b':{'$date':'2025-04-21T17:48:47.405Z'}},'removed':['x','y']}}");
}

static void update_without_update_description_has_empty_update_parts(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'update',"
                    "'ns':{'db':'d','coll':'c'},'documentKey':{'_id':1}}",
                    NULL, 0, NULL,
                    "{'operation':'update','collection':'c','document_id':'1','data':{},"
                    "'timestamp':0.0,'namespace':'d','recipient':null,'id':'T',"
                    "'cluster_time':null,'update':{'updated':{},'removed':[]}}");
}

static void insert_envelope_is_exact(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'826806'},'operationType':'insert',"
                    "'clusterTime':{'$timestamp':{'t':1745257727,'i':3}},"
                    "'ns':{'db':'test','coll':'users'},"
                    "'documentKey':{'_id':{'$oid':'6806a2f1c3b9a1d2e3f40516'}},"
                    "'fullDocument':{'_id':{'$oid':'6806a2f1c3b9a1d2e3f40516'},"
                    "'at':{'$date':'2025-04-21T17:48:47.405Z'},'n':1.0,'big':{'$numberLong':'5'}}}",
                    NULL, 0, NULL,
                    "{'operation':'insert','collection':'users',"
                    "'document_id':'6806a2f1c3b9a1d2e3f40516',"
                    "'data':{'_id':{'$oid':'6806a2f1c3b9a1d2e3f40516'},"
                    "'at':{'$date':'2025-04-21T17:48:47.405Z'},'n':1.0,'big':5},"
                    "'timestamp':1745257727.0,'namespace':'test','recipient':null,"
                    "'id':'826806','cluster_time':{'t':1745257727,'i':3}}");
}

static void replace_sends_the_new_document_and_no_update_block(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'replace',"
                    "'clusterTime':{'$timestamp':{'t':9,'i':1}},"
                    "'ns':{'db':'d','coll':'c'},'documentKey':{'_id':'k'},"
                    "'fullDocument':{'_id':'k','v':2}}",
                    NULL, 0, NULL,
                    "{'operation':'replace','collection':'c','document_id':'k',"
                    "'data':{'_id':'k','v':2},'timestamp':9.0,'namespace':'d',"
                    "'recipient':null,'id':'T','cluster_time':{'t':9,'i':1}}");
}

static void delete_without_pre_image_has_empty_data(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'delete',"
                    "'clusterTime':{'$timestamp':{'t':9,'i':1}},"
                    "'ns':{'db':'d','coll':'c'},'documentKey':{'_id':'k'}}",
                    NULL, 0, NULL,
                    "{'operation':'delete','collection':'c','document_id':'k','data':{},"
                    "'timestamp':9.0,'namespace':'d','recipient':null,'id':'T',"
                    "'cluster_time':{'t':9,'i':1}}");
}

static void delete_with_pre_image_sends_the_old_document(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'delete',"
                    "'clusterTime':{'$timestamp':{'t':9,'i':1}},"
                    "'ns':{'db':'d','coll':'c'},'documentKey':{'_id':'k'},"
                    "'fullDocumentBeforeChange':{'_id':'k','owner':'u1'}}",
                    NULL, 0, NULL,
                    "{'operation':'delete','collection':'c','document_id':'k',"
                    "'data':{'_id':'k','owner':'u1'},'timestamp':9.0,'namespace':'d',"
                    "'recipient':null,'id':'T','cluster_time':{'t':9,'i':1}}");
}

static void pre_image_is_data_only_for_deletes(void **state)
{
    (void)state;
    expect_data("{'_id':{'_data':'T'},'operationType':'update','ns':{'db':'d','coll':'c'},"
                "'documentKey':{'_id':'k'},'fullDocumentBeforeChange':{'old':1}}",
                NULL, 0, "{}");
}

static void invalidate_has_empty_collection_and_null_namespace(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'invalidate',"
                    "'clusterTime':{'$timestamp':{'t':9,'i':1}}}",
                    NULL, 0, NULL,
                    "{'operation':'invalidate','collection':'','document_id':'','data':{},"
                    "'timestamp':9.0,'namespace':null,'recipient':null,'id':'T',"
                    "'cluster_time':{'t':9,'i':1}}");
}

static void drop_names_the_collection_without_document_id(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'drop',"
                    "'clusterTime':{'$timestamp':{'t':9,'i':1}},'ns':{'db':'d','coll':'c'}}",
                    NULL, 0, NULL,
                    "{'operation':'drop','collection':'c','document_id':'','data':{},"
                    "'timestamp':9.0,'namespace':'d','recipient':null,'id':'T',"
                    "'cluster_time':{'t':9,'i':1}}");
}

static void rename_names_the_source_collection(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'rename',"
                    "'clusterTime':{'$timestamp':{'t':9,'i':1}},'ns':{'db':'d','coll':'old'},"
                    "'to':{'db':'d','coll':'new'}}",
                    NULL, 0, NULL,
                    "{'operation':'rename','collection':'old','document_id':'','data':{},"
                    "'timestamp':9.0,'namespace':'d','recipient':null,'id':'T',"
                    "'cluster_time':{'t':9,'i':1}}");
}

static void dropdatabase_has_empty_collection(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'dropDatabase',"
                    "'clusterTime':{'$timestamp':{'t':9,'i':1}},'ns':{'db':'d'}}",
                    NULL, 0, NULL,
                    "{'operation':'dropDatabase','collection':'','document_id':'','data':{},"
                    "'timestamp':9.0,'namespace':'d','recipient':null,'id':'T',"
                    "'cluster_time':{'t':9,'i':1}}");
}

static void event_fields_mirror_the_envelope(void **state)
{
    (void)state;
    const char *fields[] = {"fullDocument.name"};
    built_t b;
    build(&b, UPDATE_EVENT, fields, 1, "fullDocument._id");
    assert_int_equal(b.rc, 0);
    cc_event_t *ev = b.vec.v[0];
    assert_int_equal(atomic_load(&ev->refs), 1);
    assert_string_equal(ev->id, "82680684FF0000");
    assert_string_equal(ev->recipient, "user_123");
    assert_string_equal(ev->operation, "update");
    assert_int_equal(ev->op_mask, CC_OP_UPDATE);
    assert_string_equal(ev->database, "test");
    assert_string_equal(ev->collection, "users");
    assert_string_equal(ev->document_id, "user_123");
    assert_true(ev->timestamp == 1745257727.0);
    assert_null(ev->position);
    assert_int_equal(ev->json_len, strlen(ev->json));
    done(&b);
}

static void op_mask_maps_every_operation_type(void **state)
{
    (void)state;
    assert_int_equal(cc_op_mask("insert"), CC_OP_INSERT);
    assert_int_equal(cc_op_mask("update"), CC_OP_UPDATE);
    assert_int_equal(cc_op_mask("replace"), CC_OP_REPLACE);
    assert_int_equal(cc_op_mask("delete"), CC_OP_DELETE);
    assert_int_equal(cc_op_mask("invalidate"), CC_OP_INVALIDATE);
    assert_int_equal(cc_op_mask("drop"), CC_OP_DROP);
    assert_int_equal(cc_op_mask("rename"), CC_OP_RENAME);
    assert_int_equal(cc_op_mask("dropDatabase"), CC_OP_DROPDATABASE);
    assert_int_equal(cc_op_mask("snapshot"), CC_OP_SNAPSHOT);
    assert_int_equal(cc_op_mask("createIndexes"), CC_OP_OTHER);
    assert_int_equal(cc_op_mask("Insert"), CC_OP_OTHER);
    assert_int_equal(cc_op_mask(""), CC_OP_OTHER);
    assert_int_equal(cc_op_mask(NULL), CC_OP_OTHER);
}

static void unknown_operation_is_built_with_op_other(void **state)
{
    (void)state;
    built_t b;
    build(&b, "{'_id':{'_data':'T'},'operationType':'createIndexes','ns':{'db':'d','coll':'c'}}",
          NULL, 0, NULL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.v[0]->op_mask, CC_OP_OTHER);
    assert_string_equal(b.vec.v[0]->operation, "createIndexes");
    done(&b);
}

/* ---- timestamps ------------------------------------------------------- */

static void timestamp_falls_back_to_wall_time_seconds(void **state)
{
    (void)state;
    expect_envelope("{'_id':{'_data':'T'},'operationType':'drop','ns':{'db':'d','coll':'c'},"
                    "'wallTime':{'$date':'2025-04-21T17:48:47.405Z'}}",
                    NULL, 0, NULL,
                    "{'operation':'drop','collection':'c','document_id':'','data':{},"
                    "'timestamp':1745257727.405,'namespace':'d','recipient':null,'id':'T',"
                    "'cluster_time':null}");
}

static void timestamp_is_zero_without_cluster_or_wall_time(void **state)
{
    (void)state;
    built_t b;
    build(&b, "{'_id':{'_data':'T'},'operationType':'drop'}", NULL, 0, NULL);
    assert_int_equal(b.rc, 0);
    assert_non_null(strstr(b.vec.v[0]->json, "\"timestamp\":0.0,"));
    assert_non_null(strstr(b.vec.v[0]->json, "\"cluster_time\":null}"));
    assert_true(b.vec.v[0]->timestamp == 0.0);
    done(&b);
}

/* ---- ids -------------------------------------------------------------- */

static void document_id_string_is_itself(void **state)
{
    (void)state;
    expect_document_id("'user_123'", "user_123");
    expect_document_id("''", "");
}

static void document_id_objectid_is_24_lowercase_hex(void **state)
{
    (void)state;
    expect_document_id("{'$oid':'6806A2F1C3B9A1D2E3F40516'}", "6806a2f1c3b9a1d2e3f40516");
}

static void document_id_integers_are_decimal(void **state)
{
    (void)state;
    expect_document_id("{'$numberInt':'-42'}", "-42");
    expect_document_id("{'$numberLong':'9223372036854775807'}", "9223372036854775807");
}

static void document_id_doubles_are_shortest_text(void **state)
{
    (void)state;
    expect_document_id("{'$numberDouble':'1.5'}", "1.5");
    expect_document_id("{'$numberDouble':'2.0'}", "2.0");
    expect_document_id("{'$numberDouble':'0.1'}", "0.1");
    expect_document_id("{'$numberDouble':'NaN'}", "{\"$numberDouble\":\"NaN\"}");
}

static void document_id_decimal_date_document_binary_are_relaxed_ejson(void **state)
{
    (void)state;
    expect_document_id("{'$numberDecimal':'1.50'}", "{\"$numberDecimal\":\"1.50\"}");
    expect_document_id("{'$date':'2025-04-21T17:48:47.405Z'}",
                       "{\"$date\":\"2025-04-21T17:48:47.405Z\"}");
    expect_document_id("{'a':1,'b':[true,null]}", "{\"a\":1,\"b\":[true,null]}");
    expect_document_id("{'$binary':{'base64':'AQID','subType':'04'}}",
                       "{\"$binary\":{\"base64\":\"AQID\",\"subType\":\"04\"}}");
}

static void id_string_renders_each_type(void **state)
{
    (void)state;
    bson_t doc;
    parse_q(&doc, "{'s':'x\\u0001','i':{'$numberInt':'3'},'d':{'$numberDouble':'-0.0'},"
                  "'n':null,'t':true}");
    const char *keys[] = {"s", "i", "d", "n", "t"};
    const char *want[] = {"x\x01", "3", "-0.0", "null", "true"};
    for (size_t k = 0; k < 5; k++) {
        bson_iter_t it;
        assert_true(bson_iter_init_find(&it, &doc, keys[k]));
        cc_buf_t b = CC_BUF_INIT;
        assert_int_equal(cc_envelope_id_string(&b, &it), 0);
        assert_string_equal(cc_buf_cstr(&b), want[k]);
        cc_buf_free(&b);
    }
    bson_destroy(&doc);
}

static void resume_token_without_data_string_is_rendered(void **state)
{
    (void)state;
    built_t b;
    build(&b, "{'_id':{'x':1,'y':'z'},'operationType':'drop'}", NULL, 0, NULL);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.vec.v[0]->id, "{\"x\":1,\"y\":\"z\"}");
    assert_non_null(strstr(b.vec.v[0]->json, "\"id\":\"{\\\"x\\\":1,\\\"y\\\":\\\"z\\\"}\""));
    done(&b);

    build(&b, "{'_id':{'_data':5},'operationType':'drop'}", NULL, 0, NULL);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.vec.v[0]->id, "{\"_data\":5}");
    done(&b);

    /* A plain string or number _id reads as itself, like document_id. */
    build(&b, "{'_id':'snapshot:42','operationType':'snapshot'}", NULL, 0, NULL);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.vec.v[0]->id, "snapshot:42");
    assert_int_equal(b.vec.v[0]->op_mask, CC_OP_SNAPSHOT);
    done(&b);
}

/* ---- fields ----------------------------------------------------------- */

static void fields_follow_paths_into_nested_documents(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.customer.address.city", "fullDocument.customer.id"};
    expect_data(ORDER_EVENT, f, 2,
                "{'fullDocument.customer.address.city':'Oslo','fullDocument.customer.id':'c1'}");
}

static void fields_numeric_segment_indexes_an_array(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.items.1.sku", "fullDocument.tags.0", "fullDocument.matrix.1.0",
                       "fullDocument.items.9.sku"};
    expect_data(ORDER_EVENT, f, 4,
                "{'fullDocument.items.1.sku':'b','fullDocument.tags.0':'x',"
                "'fullDocument.matrix.1.0':3}");
}

static void fields_numeric_segment_on_a_document_is_a_key(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.m.0"};
    expect_data(ORDER_EVENT, f, 1, "{'fullDocument.m.0':'zero'}");
}

static void fields_name_over_an_array_collects_every_match(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.items.sku", "fullDocument.items.qty"};
    expect_data(ORDER_EVENT, f, 2,
                "{'fullDocument.items.sku':['a','b'],'fullDocument.items.qty':[1,2,3]}");
}

static void fields_single_match_through_an_array_is_not_wrapped(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.groups.ids"};
    /* three matches, each kept as found (arrays stay arrays) */
    expect_data(ORDER_EVENT, f, 1,
                "{'fullDocument.groups.ids':[['u1','u2'],['u2','u3'],'u4']}");
    expect_data("{'_id':{'_data':'T'},'operationType':'insert',"
                "'fullDocument':{'a':[{'b':1},{'c':2}]}}",
                (const char *[]){"fullDocument.a.b"}, 1, "{'fullDocument.a.b':1}");
}

static void fields_path_ending_on_an_array_gives_the_array(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.tags", "fullDocument.matrix"};
    expect_data(ORDER_EVENT, f, 2,
                "{'fullDocument.tags':['x','y'],'fullDocument.matrix':[[1,2],[3]]}");
}

static void fields_missing_and_null_paths_are_left_out(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.nope", "fullDocument.none", "fullDocument.customer.id.x",
                       "fullDocument.tags.x", "nothing.at.all", "fullDocument.customer.id"};
    expect_data(ORDER_EVENT, f, 6, "{'fullDocument.customer.id':'c1'}");
    const char *g[] = {"fullDocument.nope"};
    expect_data(ORDER_EVENT, g, 1, "{}");
}

static void fields_reach_any_member_of_the_change_event(void **state)
{
    (void)state;
    const char *f[] = {"documentKey._id", "ns.coll", "updateDescription.updatedFields.name",
                       "clusterTime", "operationType"};
    expect_data(UPDATE_EVENT, f, 5,
                "{'documentKey._id':'user_123','ns.coll':'users',"
                "'updateDescription.updatedFields.name':'Ada',"
                "'clusterTime':{'$timestamp':{'t':1745257727,'i':1}},'operationType':'update'}");
}

static void fields_repeated_path_appears_once(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.name", "fullDocument.name"};
    expect_data(UPDATE_EVENT, f, 2, "{'fullDocument.name':'Ada'}");
}

static void fields_keep_update_block_on_updates(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.name"};
    built_t b;
    build(&b, UPDATE_EVENT, f, 1, NULL);
    assert_int_equal(b.rc, 0);
    assert_non_null(strstr(b.vec.v[0]->json, ",\"update\":{\"updated\":{\"name\":\"Ada\"},"));
    done(&b);
}

/* ---- delete fallback -------------------------------------------------- */

#define DELETE_WITH_PRE_IMAGE                                                          \
    "{'_id':{'_data':'T'},'operationType':'delete','ns':{'db':'d','coll':'c'},"       \
    "'documentKey':{'_id':'k'},"                                                       \
    "'fullDocumentBeforeChange':{'_id':'k','owner':'u9','name':'old'}}"

static void fields_fall_back_to_pre_image_on_delete(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.name", "fullDocument.owner"};
    expect_data(DELETE_WITH_PRE_IMAGE, f, 2,
                "{'fullDocument.name':'old','fullDocument.owner':'u9'}");
}

static void recipient_falls_back_to_pre_image_on_delete(void **state)
{
    (void)state;
    built_t b;
    build(&b, DELETE_WITH_PRE_IMAGE, NULL, 0, "fullDocument.owner");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 1);
    assert_string_equal(b.vec.v[0]->recipient, "u9");
    assert_non_null(strstr(b.vec.v[0]->json, "\"recipient\":\"u9\",\"id\":\"T\""));
    done(&b);
}

static void fallback_is_for_deletes_only(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.name"};
    expect_data("{'_id':{'_data':'T'},'operationType':'delete','fullDocument':null,"
                "'fullDocumentBeforeChange':{'name':'before'}}",
                f, 1, "{'fullDocument.name':'before'}");
    /* An update without a post-image must not report pre-change values as
     * if they were the document's. */
    expect_data("{'_id':{'_data':'T'},'operationType':'update','fullDocument':null,"
                "'fullDocumentBeforeChange':{'name':'before'}}",
                f, 1, "{}");
}

static void no_fallback_when_full_document_is_present(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.name", "fullDocument.only_before"};
    expect_data("{'_id':{'_data':'T'},'operationType':'update','fullDocument':{'name':'after'},"
                "'fullDocumentBeforeChange':{'name':'before','only_before':1}}",
                f, 2, "{'fullDocument.name':'after'}");
}

static void delete_without_pre_image_resolves_nothing(void **state)
{
    (void)state;
    const char *f[] = {"fullDocument.name"};
    built_t b;
    build(&b,
          "{'_id':{'_data':'T'},'operationType':'delete','ns':{'db':'d','coll':'c'},"
          "'documentKey':{'_id':'k'}}",
          f, 1, "fullDocument.owner");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 1);
    assert_null(b.vec.v[0]->recipient);
    char *data = data_of(b.vec.v[0]);
    assert_string_equal(data, "{}");
    free(data);
    done(&b);
}

/* ---- recipients ------------------------------------------------------- */

static void recipient_array_gives_one_event_each_with_suffixed_ids(void **state)
{
    (void)state;
    built_t b;
    build(&b, ORDER_EVENT, NULL, 0, "fullDocument.tags");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 2);
    assert_string_equal(b.vec.v[0]->recipient, "x");
    assert_string_equal(b.vec.v[0]->id, "T1:x");
    assert_string_equal(b.vec.v[1]->recipient, "y");
    assert_string_equal(b.vec.v[1]->id, "T1:y");
    assert_non_null(strstr(b.vec.v[0]->json, "\"recipient\":\"x\",\"id\":\"T1:x\","));
    assert_non_null(strstr(b.vec.v[1]->json, "\"recipient\":\"y\",\"id\":\"T1:y\","));
    done(&b);
}

static void recipient_copies_differ_only_in_recipient_and_id(void **state)
{
    (void)state;
    built_t b;
    build(&b, ORDER_EVENT, NULL, 0, "fullDocument.tags");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 2);
    /* Replace the copy-specific part of the second one and compare. */
    const char *a = b.vec.v[0]->json, *c = b.vec.v[1]->json;
    const char *ra = strstr(a, "\"recipient\":"), *rc = strstr(c, "\"recipient\":");
    assert_int_equal(ra - a, rc - c);
    assert_memory_equal(a, c, (size_t)(ra - a));
    const char *ta = strstr(a, ",\"cluster_time\":"), *tc = strstr(c, ",\"cluster_time\":");
    assert_string_equal(ta, tc);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(b.vec.v[i]->document_id, "7");
        assert_string_equal(b.vec.v[i]->collection, "orders");
        assert_true(b.vec.v[i]->timestamp == 100.0);
    }
    done(&b);
}

static void single_recipient_keeps_the_plain_token_as_id(void **state)
{
    (void)state;
    built_t b;
    build(&b, ORDER_EVENT, NULL, 0, "fullDocument.customer.id");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 1);
    assert_string_equal(b.vec.v[0]->recipient, "c1");
    assert_string_equal(b.vec.v[0]->id, "T1");
    done(&b);
}

static void duplicate_recipients_are_sent_once_in_first_seen_order(void **state)
{
    (void)state;
    built_t b;
    build(&b, ORDER_EVENT, NULL, 0, "fullDocument.groups.ids");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 4);
    const char *want[] = {"u1", "u2", "u3", "u4"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(b.vec.v[i]->recipient, want[i]);
        char id[16];
        snprintf(id, sizeof id, "T1:%s", want[i]);
        assert_string_equal(b.vec.v[i]->id, id);
    }
    done(&b);
}

static void recipient_mapped_over_array_of_documents(void **state)
{
    (void)state;
    built_t b;
    build(&b, ORDER_EVENT, NULL, 0, "fullDocument.items.sku");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 2);   /* the null sku and the missing one are skipped */
    assert_string_equal(b.vec.v[0]->recipient, "a");
    assert_string_equal(b.vec.v[1]->recipient, "b");
    done(&b);
}

static void recipient_values_render_as_id_strings(void **state)
{
    (void)state;
    built_t b;
    build(&b,
          "{'_id':{'_data':'T'},'operationType':'insert','fullDocument':{'r':["
          "{'$oid':'6806a2f1c3b9a1d2e3f40516'},{'$numberInt':'5'},{'$numberLong':'5'},"
          "{'$numberDouble':'5.0'},{'$numberDouble':'2.5'},null,{'k':'v'},'5']}}",
          NULL, 0, "fullDocument.r");
    assert_int_equal(b.rc, 0);
    /* int32 5, int64 5 and the string "5" are the same recipient. */
    const char *want[] = {"6806a2f1c3b9a1d2e3f40516", "5", "5.0", "2.5", "{\"k\":\"v\"}"};
    assert_int_equal(b.vec.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(b.vec.v[i]->recipient, want[i]);
    assert_non_null(strstr(b.vec.v[4]->json, "\"recipient\":\"{\\\"k\\\":\\\"v\\\"}\""));
    done(&b);
}

static void missing_or_null_recipient_is_one_broadcast(void **state)
{
    (void)state;
    const char *paths[] = {"fullDocument.none", "fullDocument.nope", "fullDocument.tags.9",
                           "nothing"};
    for (size_t i = 0; i < 4; i++) {
        built_t b;
        build(&b, ORDER_EVENT, NULL, 0, paths[i]);
        assert_int_equal(b.rc, 0);
        assert_int_equal(b.vec.n, 1);
        assert_null(b.vec.v[0]->recipient);
        assert_string_equal(b.vec.v[0]->id, "T1");
        assert_non_null(strstr(b.vec.v[0]->json, "\"recipient\":null,\"id\":\"T1\""));
        done(&b);
    }
}

static void empty_recipient_array_is_one_broadcast(void **state)
{
    (void)state;
    built_t b;
    build(&b, "{'_id':{'_data':'T'},'operationType':'insert','fullDocument':{'r':[null]}}",
          NULL, 0, "fullDocument.r");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 1);
    assert_null(b.vec.v[0]->recipient);
    done(&b);
}

static void explicit_recipients_replace_the_recipient_path(void **state)
{
    (void)state;
    const char *r[] = {"biz1", NULL, "biz2", "biz1"};
    built_t b;
    build_ex(&b, ORDER_EVENT, NULL, 0, "fullDocument.tags", r, 4);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 2);
    assert_string_equal(b.vec.v[0]->recipient, "biz1");
    assert_string_equal(b.vec.v[0]->id, "T1:biz1");
    assert_string_equal(b.vec.v[1]->recipient, "biz2");
    assert_string_equal(b.vec.v[1]->id, "T1:biz2");
    done(&b);
}

static void explicit_single_recipient_keeps_plain_id(void **state)
{
    (void)state;
    const char *r[] = {"biz1"};
    built_t b;
    build_ex(&b, ORDER_EVENT, NULL, 0, NULL, r, 1);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 1);
    assert_string_equal(b.vec.v[0]->recipient, "biz1");
    assert_string_equal(b.vec.v[0]->id, "T1");
    done(&b);
}

static void explicit_empty_list_is_broadcast_despite_recipient_path(void **state)
{
    (void)state;
    const char *r[] = {"unused"};
    built_t b;
    build_ex(&b, ORDER_EVENT, NULL, 0, "fullDocument.tags", r, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 1);
    assert_null(b.vec.v[0]->recipient);
    done(&b);
}

static void many_recipients_are_deduplicated_in_order(void **state)
{
    (void)state;
    /* 2000 values, each id appearing twice: past the linear-scan size. */
    cc_buf_t j = CC_BUF_INIT;
    cc_buf_puts(&j, "{'_id':{'_data':'T'},'operationType':'insert','fullDocument':{'r':[");
    for (int i = 0; i < 2000; i++)
        cc_buf_printf(&j, "%s'u%d'", i ? "," : "", i % 1000);
    cc_buf_puts(&j, "]}}");
    built_t b;
    build(&b, cc_buf_cstr(&j), NULL, 0, "fullDocument.r");
    cc_buf_free(&j);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.vec.n, 1000);
    for (int i = 0; i < 1000; i++) {
        char want[16];
        snprintf(want, sizeof want, "u%d", i);
        assert_string_equal(b.vec.v[i]->recipient, want);
    }
    done(&b);
}

/* ---- odd documents ---------------------------------------------------- */

static void expect_error(const char *text, int rc, const char *message)
{
    built_t b;
    build(&b, text, NULL, 0, NULL);
    assert_int_equal(b.rc, rc);
    assert_int_equal(b.vec.n, 0);
    assert_null(b.vec.v);
    if (!strstr(b.err, message))
        fail_msg("error was \"%s\", expected \"%s\"", b.err, message);
    done(&b);
}

static void missing_operation_type_is_eparse_with_message(void **state)
{
    (void)state;
    expect_error("{'_id':{'_data':'T'},'ns':{'db':'d','coll':'c'}}", CC_EPARSE,
                 "change event has no operationType");
    expect_error("{'_id':{'_data':'T'},'operationType':5}", CC_EPARSE,
                 "change event has no operationType");
    expect_error("{}", CC_EPARSE, "change event has no operationType");
}

static void missing_id_is_eparse_with_message(void **state)
{
    (void)state;
    expect_error("{'operationType':'insert'}", CC_EPARSE,
                 "change event has no _id (resume token)");
    expect_error("{'_id':null,'operationType':'insert'}", CC_EPARSE,
                 "change event has no _id (resume token)");
}

static void missing_ns_gives_empty_collection_and_null_namespace(void **state)
{
    (void)state;
    built_t b;
    build(&b, "{'_id':{'_data':'T'},'operationType':'insert','documentKey':{'_id':1},"
              "'fullDocument':{'_id':1}}",
          NULL, 0, NULL);
    assert_int_equal(b.rc, 0);
    assert_non_null(strstr(b.vec.v[0]->json, "\"collection\":\"\","));
    assert_non_null(strstr(b.vec.v[0]->json, "\"namespace\":null,"));
    assert_string_equal(b.vec.v[0]->database, "");
    assert_string_equal(b.vec.v[0]->collection, "");
    done(&b);

    /* ns of the wrong types counts as missing. */
    build(&b, "{'_id':{'_data':'T'},'operationType':'insert','ns':{'db':1,'coll':[]}}",
          NULL, 0, NULL);
    assert_int_equal(b.rc, 0);
    assert_non_null(strstr(b.vec.v[0]->json, "\"collection\":\"\","));
    assert_non_null(strstr(b.vec.v[0]->json, "\"namespace\":null,"));
    done(&b);
}

static void full_document_null_or_not_a_document_gives_empty_data(void **state)
{
    (void)state;
    expect_data("{'_id':{'_data':'T'},'operationType':'update','fullDocument':null}", NULL, 0,
                "{}");
    expect_data("{'_id':{'_data':'T'},'operationType':'insert','fullDocument':[1,2]}", NULL, 0,
                "{}");
    expect_data("{'_id':{'_data':'T'},'operationType':'insert','fullDocument':'x'}", NULL, 0,
                "{}");
}

static void control_chars_and_invalid_utf8_are_escaped_everywhere(void **state)
{
    (void)state;
    /* Built with the BSON API: JSON input could not carry invalid UTF-8. */
    bson_t doc = BSON_INITIALIZER, sub;
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "_id", &sub);
    bson_append_utf8(&sub, "_data", -1, "T\"\n", -1);
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_UTF8(&doc, "operationType", "insert");
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "ns", &sub);
    bson_append_utf8(&sub, "db", -1, "d\x01", -1);
    bson_append_utf8(&sub, "coll", -1, "c\xff", -1);
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "documentKey", &sub);
    bson_append_utf8(&sub, "_id", -1, "k\t\xc3\x28", -1);
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "fullDocument", &sub);
    bson_append_utf8(&sub, "k\x1f\xe2\x82", -1, "\\\x7f\xc3\xa9", -1);
    bson_append_utf8(&sub, "owner", -1, "u\"1\x80", -1);
    bson_append_document_end(&doc, &sub);

    char err[256];
    cc_shape_t *shape = cc_shape_new(NULL, 0, "fullDocument.owner", err, sizeof err);
    assert_non_null(shape);
    cc_event_vec_t vec = {0};
    assert_int_equal(cc_envelope_build(&doc, shape, NULL, 0, &vec, err, sizeof err), 0);
    assert_int_equal(vec.n, 1);
    assert_string_equal(vec.v[0]->json,
                        "{\"operation\":\"insert\",\"collection\":\"c\\ufffd\","
                        "\"document_id\":\"k\\t\\ufffd(\","
                        "\"data\":{\"k\\u001f\\ufffd\":\"\\\\\x7f\xc3\xa9\",\"owner\":\"u\\\"1\\ufffd\"},"
                        "\"timestamp\":0.0,\"namespace\":\"d\\u0001\","
                        "\"recipient\":\"u\\\"1\\ufffd\",\"id\":\"T\\\"\\n\",\"cluster_time\":null}");
    /* The event's own strings are raw. */
    assert_string_equal(vec.v[0]->recipient, "u\"1\x80");
    assert_string_equal(vec.v[0]->id, "T\"\n");
    assert_string_equal(vec.v[0]->document_id, "k\t\xc3\x28");
    cc_event_vec_free(&vec);
    cc_shape_free(shape);
    bson_destroy(&doc);
}


/* A change whose fullDocument (or recipient value) is nested `levels` deep. */
static void deep_change(bson_t *doc, int levels, const char *member)
{
    uint32_t len;
    uint8_t *raw = nested_bson(levels, 0, &len);
    bson_t deep;
    assert_true(bson_init_static(&deep, raw, len));
    bson_init(doc);
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "_id", &sub);
    BSON_APPEND_UTF8(&sub, "_data", "T");
    bson_append_document_end(doc, &sub);
    BSON_APPEND_UTF8(doc, "operationType", "insert");
    BSON_APPEND_DOCUMENT_BEGIN(doc, "fullDocument", &sub);
    BSON_APPEND_DOCUMENT(&sub, member, &deep);
    bson_append_document_end(doc, &sub);
    free(raw);
}

static void deep_nesting_is_a_clean_error_not_a_crash(void **state)
{
    (void)state;
    char err[256];
    bson_t doc;
    deep_change(&doc, 1000, "x");

    /* Whole document as data. */
    cc_event_vec_t vec = {0};
    assert_int_equal(cc_envelope_build(&doc, NULL, NULL, 0, &vec, err, sizeof err), CC_EPARSE);
    assert_non_null(strstr(err, "fullDocument is nested deeper than 200 levels"));
    assert_int_equal(vec.n, 0);

    /* As a field value, and as a recipient value. */
    cc_shape_t *shape = cc_shape_new((const char *[]){"fullDocument.x"}, 1, NULL, err, sizeof err);
    assert_non_null(shape);
    assert_int_equal(cc_envelope_build(&doc, shape, NULL, 0, &vec, err, sizeof err), CC_EPARSE);
    assert_non_null(strstr(err, "fullDocument.x is nested deeper"));
    cc_shape_free(shape);
    shape = cc_shape_new(NULL, 0, "fullDocument.x", err, sizeof err);
    assert_non_null(shape);
    assert_int_equal(cc_envelope_build(&doc, shape, NULL, 0, &vec, err, sizeof err), CC_EPARSE);
    assert_non_null(strstr(err, "fullDocument.x is nested deeper"));
    cc_shape_free(shape);

    assert_int_equal(vec.n, 0);

    /* Fields that avoid the deep part build fine. */
    shape = cc_shape_new((const char *[]){"fullDocument.x.a.a.b", "_id._data"}, 2, NULL, err,
                         sizeof err);
    assert_non_null(shape);
    assert_int_equal(cc_envelope_build(&doc, shape, NULL, 0, &vec, err, sizeof err), 0);
    cc_shape_free(shape);
    assert_int_equal(vec.n, 1);
    assert_non_null(strstr(vec.v[0]->json, "\"data\":{\"_id._data\":\"T\"}"));
    cc_event_vec_free(&vec);
    cc_event_vec_free(&vec);
    bson_destroy(&doc);

    /* 150 levels (deeper than MongoDB stores) still renders. */
    deep_change(&doc, 150, "x");
    assert_int_equal(cc_envelope_build(&doc, NULL, NULL, 0, &vec, err, sizeof err), 0);
    assert_int_equal(vec.n, 1);
    cc_event_vec_free(&vec);
    bson_destroy(&doc);
}

static void error_leaves_existing_events_untouched(void **state)
{
    (void)state;
    char err[256];
    bson_t good, bad;
    parse_q(&good, ORDER_EVENT);
    parse_q(&bad, "{'_id':{'_data':'T'}}");
    cc_shape_t *shape = cc_shape_new(NULL, 0, "fullDocument.tags", err, sizeof err);
    assert_non_null(shape);
    cc_event_vec_t vec = {0};
    assert_int_equal(cc_envelope_build(&good, shape, NULL, 0, &vec, err, sizeof err), 0);
    assert_int_equal(vec.n, 2);
    cc_event_t *first = vec.v[0];
    assert_int_equal(cc_envelope_build(&bad, shape, NULL, 0, &vec, err, sizeof err), CC_EPARSE);
    assert_int_equal(vec.n, 2);
    assert_ptr_equal(vec.v[0], first);
    /* And appending after it works. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(cc_envelope_build(&good, shape, NULL, 0, &vec, err, sizeof err), 0);
    assert_int_equal(vec.n, 22);
    assert_string_equal(vec.v[21]->id, "T1:y");
    cc_event_vec_free(&vec);
    assert_null(vec.v);
    assert_int_equal(vec.n, 0);
    cc_shape_free(shape);
    bson_destroy(&good);
    bson_destroy(&bad);
}

static void corrupt_bson_is_eparse(void **state)
{
    (void)state;
    bson_t src;
    parse_q(&src, "{'_id':{'_data':'T'},'operationType':'insert','fullDocument':{'a':1}}");
    uint8_t *raw = malloc(src.len);
    assert_non_null(raw);
    memcpy(raw, bson_get_data(&src), src.len);
    /* Break the fullDocument length so its iteration fails. */
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &src, "fullDocument"));
    uint32_t off = bson_iter_offset(&it) + (uint32_t)strlen("fullDocument") + 2;
    raw[off] = 0x40;
    bson_t doc;
    assert_true(bson_init_static(&doc, raw, src.len));
    char err[256];
    cc_event_vec_t vec = {0};
    assert_int_equal(cc_envelope_build(&doc, NULL, NULL, 0, &vec, err, sizeof err), CC_EPARSE);
    assert_int_equal(vec.n, 0);
    free(raw);
    bson_destroy(&src);
}

static void build_accepts_null_error_buffer(void **state)
{
    (void)state;
    bson_t doc;
    parse_q(&doc, "{}");
    cc_event_vec_t vec = {0};
    assert_int_equal(cc_envelope_build(&doc, NULL, NULL, 0, &vec, NULL, 0), CC_EPARSE);
    bson_destroy(&doc);
}

/* ---- shapes ----------------------------------------------------------- */

static void expect_shape_error(const char *const *fields, size_t n, const char *recipient,
                               const char *message)
{
    char err[256] = "";
    assert_null(cc_shape_new(fields, n, recipient, err, sizeof err));
    assert_string_equal(err, message);
}

static void shape_rejects_empty_paths_and_segments_naming_them(void **state)
{
    (void)state;
    expect_shape_error((const char *[]){"a.b", ""}, 2, NULL, "fields[1]: empty path");
    expect_shape_error((const char *[]){"a..b"}, 1, NULL,
                       "fields[0]: empty path segment in \"a..b\"");
    expect_shape_error((const char *[]){".a"}, 1, NULL, "fields[0]: empty path segment in \".a\"");
    expect_shape_error((const char *[]){"a."}, 1, NULL, "fields[0]: empty path segment in \"a.\"");
    expect_shape_error((const char *[]){NULL}, 1, NULL, "fields[0]: empty path");
    expect_shape_error(NULL, 0, "a..b", "recipient: empty path segment in \"a..b\"");
}

static void shape_rejects_paths_with_too_many_segments(void **state)
{
    (void)state;
    char path[2 * (CC_PATH_MAX_SEGMENTS + 1)];
    for (int i = 0; i <= CC_PATH_MAX_SEGMENTS; i++) {
        path[2 * i] = 'a';
        path[2 * i + 1] = '.';
    }
    path[sizeof path - 1] = '\0';   /* 201 segments */
    char err[256] = "";
    assert_null(cc_shape_new(NULL, 0, path, err, sizeof err));
    assert_non_null(strstr(err, "recipient: more than 200 segments"));
    path[sizeof path - 3] = '\0';   /* 200 segments */
    cc_shape_t *s = cc_shape_new(NULL, 0, path, err, sizeof err);
    assert_non_null(s);
    cc_shape_free(s);
}

static void shape_copies_paths_and_treats_empty_recipient_as_none(void **state)
{
    (void)state;
    char field[] = "fullDocument.a";
    char err[256];
    cc_shape_t *s = cc_shape_new((const char *[]){field}, 1, "", err, sizeof err);
    assert_non_null(s);
    field[0] = 'X';
    assert_int_equal(s->n_fields, 1);
    assert_string_equal(s->fields[0], "fullDocument.a");
    assert_null(s->recipient);
    cc_shape_free(s);
    s = cc_shape_new(NULL, 0, NULL, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(s->n_fields, 0);
    cc_shape_free(s);
    cc_shape_free(NULL);
}

static void shape_without_fields_sends_whole_document(void **state)
{
    (void)state;
    built_t b;
    build(&b, UPDATE_EVENT, NULL, 0, "fullDocument._id");   /* recipient only */
    assert_int_equal(b.rc, 0);
    char *data = data_of(b.vec.v[0]);
    assert_string_equal(data, "{'_id':'user_123','name':'Ada'}");
    free(data);
    done(&b);
}

/* ---- events ----------------------------------------------------------- */

static void event_is_one_allocation_with_its_strings(void **state)
{
    (void)state;
    cc_event_init_t init = {
        .json = "{\"a\":1}xyz", .json_len = 7, .id = "id", .recipient = NULL,
        .operation = "insert", .database = NULL, .collection = "c", .document_id = "k",
        .timestamp = 1.5,
    };
    cc_event_t *ev = cc_event_new(&init);
    assert_non_null(ev);
    assert_string_equal(ev->json, "{\"a\":1}");
    assert_int_equal(ev->json_len, 7);
    assert_null(ev->recipient);
    assert_string_equal(ev->database, "");
    assert_int_equal(ev->op_mask, CC_OP_INSERT);
    const char *lo = (const char *)(ev + 1);
    const char *strs[] = {ev->json, ev->id, ev->operation, ev->database, ev->collection,
                          ev->document_id};
    for (size_t i = 0; i < 6; i++)
        assert_true(strs[i] >= lo && strs[i] < lo + 64);
    assert_int_equal(cc_event_set_position(ev, "pos1"), 0);
    assert_int_equal(cc_event_set_position(ev, "pos2"), 0);
    assert_string_equal(ev->position, "pos2");
    assert_ptr_equal(cc_event_ref(ev), ev);
    assert_int_equal(atomic_load(&ev->refs), 2);
    cc_event_unref(ev);
    assert_int_equal(atomic_load(&ev->refs), 1);
    cc_event_unref(ev);
    cc_event_unref(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(update_envelope_matches_spec_example),
        cmocka_unit_test(update_with_post_image_and_no_fields_sends_the_document),
        cmocka_unit_test(update_without_post_image_has_empty_data),
        cmocka_unit_test(update_without_update_description_has_empty_update_parts),
        cmocka_unit_test(insert_envelope_is_exact),
        cmocka_unit_test(replace_sends_the_new_document_and_no_update_block),
        cmocka_unit_test(delete_without_pre_image_has_empty_data),
        cmocka_unit_test(delete_with_pre_image_sends_the_old_document),
        cmocka_unit_test(pre_image_is_data_only_for_deletes),
        cmocka_unit_test(invalidate_has_empty_collection_and_null_namespace),
        cmocka_unit_test(drop_names_the_collection_without_document_id),
        cmocka_unit_test(rename_names_the_source_collection),
        cmocka_unit_test(dropdatabase_has_empty_collection),
        cmocka_unit_test(event_fields_mirror_the_envelope),
        cmocka_unit_test(op_mask_maps_every_operation_type),
        cmocka_unit_test(unknown_operation_is_built_with_op_other),
        cmocka_unit_test(timestamp_falls_back_to_wall_time_seconds),
        cmocka_unit_test(timestamp_is_zero_without_cluster_or_wall_time),
        cmocka_unit_test(document_id_string_is_itself),
        cmocka_unit_test(document_id_objectid_is_24_lowercase_hex),
        cmocka_unit_test(document_id_integers_are_decimal),
        cmocka_unit_test(document_id_doubles_are_shortest_text),
        cmocka_unit_test(document_id_decimal_date_document_binary_are_relaxed_ejson),
        cmocka_unit_test(id_string_renders_each_type),
        cmocka_unit_test(resume_token_without_data_string_is_rendered),
        cmocka_unit_test(fields_follow_paths_into_nested_documents),
        cmocka_unit_test(fields_numeric_segment_indexes_an_array),
        cmocka_unit_test(fields_numeric_segment_on_a_document_is_a_key),
        cmocka_unit_test(fields_name_over_an_array_collects_every_match),
        cmocka_unit_test(fields_single_match_through_an_array_is_not_wrapped),
        cmocka_unit_test(fields_path_ending_on_an_array_gives_the_array),
        cmocka_unit_test(fields_missing_and_null_paths_are_left_out),
        cmocka_unit_test(fields_reach_any_member_of_the_change_event),
        cmocka_unit_test(fields_repeated_path_appears_once),
        cmocka_unit_test(fields_keep_update_block_on_updates),
        cmocka_unit_test(fields_fall_back_to_pre_image_on_delete),
        cmocka_unit_test(recipient_falls_back_to_pre_image_on_delete),
        cmocka_unit_test(fallback_is_for_deletes_only),
        cmocka_unit_test(no_fallback_when_full_document_is_present),
        cmocka_unit_test(delete_without_pre_image_resolves_nothing),
        cmocka_unit_test(recipient_array_gives_one_event_each_with_suffixed_ids),
        cmocka_unit_test(recipient_copies_differ_only_in_recipient_and_id),
        cmocka_unit_test(single_recipient_keeps_the_plain_token_as_id),
        cmocka_unit_test(duplicate_recipients_are_sent_once_in_first_seen_order),
        cmocka_unit_test(recipient_mapped_over_array_of_documents),
        cmocka_unit_test(recipient_values_render_as_id_strings),
        cmocka_unit_test(missing_or_null_recipient_is_one_broadcast),
        cmocka_unit_test(empty_recipient_array_is_one_broadcast),
        cmocka_unit_test(explicit_recipients_replace_the_recipient_path),
        cmocka_unit_test(explicit_single_recipient_keeps_plain_id),
        cmocka_unit_test(explicit_empty_list_is_broadcast_despite_recipient_path),
        cmocka_unit_test(many_recipients_are_deduplicated_in_order),
        cmocka_unit_test(missing_operation_type_is_eparse_with_message),
        cmocka_unit_test(missing_id_is_eparse_with_message),
        cmocka_unit_test(missing_ns_gives_empty_collection_and_null_namespace),
        cmocka_unit_test(full_document_null_or_not_a_document_gives_empty_data),
        cmocka_unit_test(control_chars_and_invalid_utf8_are_escaped_everywhere),
        cmocka_unit_test(deep_nesting_is_a_clean_error_not_a_crash),
        cmocka_unit_test(error_leaves_existing_events_untouched),
        cmocka_unit_test(corrupt_bson_is_eparse),
        cmocka_unit_test(build_accepts_null_error_buffer),
        cmocka_unit_test(shape_rejects_empty_paths_and_segments_naming_them),
        cmocka_unit_test(shape_rejects_paths_with_too_many_segments),
        cmocka_unit_test(shape_copies_paths_and_treats_empty_recipient_as_none),
        cmocka_unit_test(shape_without_fields_sends_whole_document),
        cmocka_unit_test(event_is_one_allocation_with_its_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
