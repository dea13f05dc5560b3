package livekit

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The agent messages' field numbers, as PROTOCOL.md §13 lists LiveKit's: a wrong number here
// would make agents-js and the Go SDK's AgentDispatchClient misread every frame.
func TestAgentFieldNumbers(t *testing.T) {
	for _, tc := range []struct {
		msg    protoreflect.ProtoMessage
		fields map[string]protoreflect.FieldNumber
	}{
		{&WorkerMessage{}, map[string]protoreflect.FieldNumber{"register": 1, "availability": 2, "update_worker": 3, "update_job": 4, "ping": 5, "simulate_job": 6, "migrate_job": 7}},
		{&ServerMessage{}, map[string]protoreflect.FieldNumber{"register": 1, "availability": 2, "assignment": 3, "pong": 4, "termination": 5}},
		{&RegisterWorkerRequest{}, map[string]protoreflect.FieldNumber{"type": 1, "version": 3, "ping_interval": 5, "namespace": 6, "allowed_permissions": 7, "agent_name": 8, "deployment": 9}},
		{&RegisterWorkerResponse{}, map[string]protoreflect.FieldNumber{"worker_id": 1, "server_info": 3}},
		{&AvailabilityRequest{}, map[string]protoreflect.FieldNumber{"job": 1, "resuming": 2}},
		{&AvailabilityResponse{}, map[string]protoreflect.FieldNumber{"job_id": 1, "available": 2, "supports_resume": 3, "participant_name": 4, "participant_identity": 5, "participant_metadata": 6, "participant_attributes": 7, "terminate": 8}},
		{&JobAssignment{}, map[string]protoreflect.FieldNumber{"job": 1, "url": 2, "token": 3}},
		{&JobTermination{}, map[string]protoreflect.FieldNumber{"job_id": 1}},
		{&UpdateJobStatus{}, map[string]protoreflect.FieldNumber{"job_id": 1, "status": 2, "error": 3}},
		{&UpdateWorkerStatus{}, map[string]protoreflect.FieldNumber{"status": 1, "load": 3, "job_count": 4}},
		{&WorkerPing{}, map[string]protoreflect.FieldNumber{"timestamp": 1}},
		{&WorkerPong{}, map[string]protoreflect.FieldNumber{"last_timestamp": 1, "timestamp": 2}},
		{&SimulateJobRequest{}, map[string]protoreflect.FieldNumber{"type": 1, "room": 2, "participant": 3}},
		{&MigrateJobRequest{}, map[string]protoreflect.FieldNumber{"job_ids": 2}},
		{&Job{}, map[string]protoreflect.FieldNumber{"id": 1, "type": 2, "room": 3, "participant": 4, "namespace": 5, "metadata": 6, "agent_name": 7, "state": 8, "dispatch_id": 9, "enable_recording": 10, "deployment": 11, "attributes": 12, "enable_redaction": 13}},
		{&JobState{}, map[string]protoreflect.FieldNumber{"status": 1, "error": 2, "started_at": 3, "ended_at": 4, "updated_at": 5, "participant_identity": 6, "worker_id": 7, "agent_id": 8}},
		{&CreateAgentDispatchRequest{}, map[string]protoreflect.FieldNumber{"agent_name": 1, "room": 2, "metadata": 3, "restart_policy": 4, "deployment": 5, "attributes": 6}},
		{&DeleteAgentDispatchRequest{}, map[string]protoreflect.FieldNumber{"dispatch_id": 1, "room": 2}},
		{&ListAgentDispatchRequest{}, map[string]protoreflect.FieldNumber{"dispatch_id": 1, "room": 2}},
		{&ListAgentDispatchResponse{}, map[string]protoreflect.FieldNumber{"agent_dispatches": 1}},
		{&AgentDispatch{}, map[string]protoreflect.FieldNumber{"id": 1, "agent_name": 2, "room": 3, "metadata": 4, "state": 5, "restart_policy": 6, "deployment": 7, "attributes": 8}},
		{&AgentDispatchState{}, map[string]protoreflect.FieldNumber{"jobs": 1, "created_at": 2, "deleted_at": 3}},
	} {
		fields := tc.msg.ProtoReflect().Descriptor().Fields()
		name := tc.msg.ProtoReflect().Descriptor().FullName()
		if fields.Len() != len(tc.fields) {
			t.Errorf("%s has %d fields, want %d", name, fields.Len(), len(tc.fields))
		}
		for field, num := range tc.fields {
			fd := fields.ByName(protoreflect.Name(field))
			if fd == nil || fd.Number() != num {
				t.Errorf("%s.%s: got %v, want number %d", name, field, fd, num)
			}
		}
	}
	enums := map[protoreflect.EnumNumber]string{}
	for _, v := range []interface {
		Number() protoreflect.EnumNumber
		String() string
	}{JobType_JT_ROOM, JobType_JT_PUBLISHER, JobType_JT_PARTICIPANT, JobStatus_JS_PENDING, JobStatus_JS_RUNNING, JobStatus_JS_SUCCESS, JobStatus_JS_FAILED} {
		enums[v.Number()] += v.String() + " "
	}
	want := map[protoreflect.EnumNumber]string{0: "JT_ROOM JS_PENDING ", 1: "JT_PUBLISHER JS_RUNNING ", 2: "JT_PARTICIPANT JS_SUCCESS ", 3: "JS_FAILED "}
	for n, names := range want {
		if enums[n] != names {
			t.Errorf("enum value %d: %q, want %q", n, enums[n], names)
		}
	}
	if WorkerStatus_WS_FULL.Number() != 1 {
		t.Errorf("WS_FULL = %d, want 1", WorkerStatus_WS_FULL.Number())
	}
}
