package scenarios

import (
	"fmt"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actor-sfu/livekit-server/testkit"
)

// faults makes a chosen actor of a test node panic inside its Receive, to prove supervision. It
// reaches the actors through the node's generic receiver-middleware hook: the middleware learns
// every actor's PID as it starts and panics on a message type only this file knows, so the
// product carries no fault-injection code.
type faults struct {
	mu     sync.Mutex
	actors map[string]faultTarget // by tree path, e.g. /node/rooms/r1/alice
}

type faultTarget struct {
	pid  *actor.PID
	root *actor.RootContext
}

// injectedPanic is the message the middleware turns into a panic.
type injectedPanic struct{}

// startFaultyNode starts a test node whose actors can be made to panic with panicAt.
func startFaultyNode(t testing.TB, opts testkit.Options) (*testkit.Node, *faults) {
	t.Helper()
	f := &faults{actors: map[string]faultTarget{}}
	opts.Actors.ReceiverMiddleware = append(opts.Actors.ReceiverMiddleware, f.middleware)
	return testkit.StartNode(t, opts), f
}

func (f *faults) middleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		switch env.Message.(type) {
		case *actor.Started:
			f.mu.Lock()
			f.actors["/"+ctx.Self().Id] = faultTarget{pid: ctx.Self(), root: ctx.ActorSystem().Root}
			f.mu.Unlock()
		case *actor.Stopped:
			f.mu.Lock()
			delete(f.actors, "/"+ctx.Self().Id)
			f.mu.Unlock()
		case *injectedPanic:
			panic("injected panic in /" + ctx.Self().Id)
		}
		next(ctx, env)
	}
}

// panicAt makes the live actor at path (as listed by the node's Tree) panic while handling its
// next message.
func (f *faults) panicAt(path string) error {
	f.mu.Lock()
	target, found := f.actors[path]
	f.mu.Unlock()
	if !found {
		return fmt.Errorf("no live actor at %q", path)
	}
	target.root.Send(target.pid, &injectedPanic{})
	return nil
}
