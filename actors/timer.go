package actors

// The actors' one timer helper: a message to self after a delay.

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// sendAfter posts msg to the calling actor's own mailbox after d, from the timer's goroutine, so
// that the timer's effect happens inside Receive like any other message. Stopping the returned
// timer cancels a send that has not happened yet; one already posted still arrives, so receivers
// of periodic or generation-stamped messages must tolerate a late one.
func sendAfter(ctx actor.Context, d time.Duration, msg any) *time.Timer {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	return time.AfterFunc(d, func() { root.Send(self, msg) })
}
