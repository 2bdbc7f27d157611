import Foundation
import PropertyBased
import Testing
@testable import LoketCore

@Suite struct SLAClockTests {
    let serang = Fixtures.serang
    let wib = Fixtures.wib
    let policy = EscalationPolicy.default

    func resolutionClock(filed: String, minutes: Int = 2250) -> SLAClock {
        try! SLAClock(kind: .resolution, targetMinutes: minutes, startedAt: wib(filed))
    }

    @Test func deadlinesOfBothClocks() throws {
        let clocks = try SLAClocks(filedAt: wib("2026-03-17 09:00"), responseTargetMinutes: 450, resolutionTargetMinutes: 2250)
        let snapshot = clocks.snapshot(policy: policy, calendar: serang)
        #expect(snapshot.responseDue == wib("2026-03-25 09:00"))
        #expect(snapshot.resolutionDue == wib("2026-03-31 09:00"))
        // The response clock's 50 % (225 minutes) comes first: 09:00 + 180 to noon, then 45 after lunch.
        #expect(snapshot.nextStage?.clock == .response)
        #expect(snapshot.nextStageAt == wib("2026-03-17 13:45"))
    }

    @Test func stageInstantsForEachDefaultPercentage() {
        let clock = resolutionClock(filed: "2026-03-17 09:00")
        let schedule = clock.schedule(policy: policy, calendar: serang)
        #expect(schedule.map(\.stage.number) == [1, 2, 3, 4, 5])
        #expect(schedule.map(\.stage.percent) == [50, 75, 100, 150, 200])
        #expect(schedule.map(\.dueAt) == [
            wib("2026-03-26 13:45"),  // 1,125 minutes
            wib("2026-03-27 16:07").addingTimeInterval(30),  // 1,687.5 minutes
            wib("2026-03-31 09:00"),  // 2,250: the breach
            wib("2026-04-02 13:45"),  // 3,375
            wib("2026-04-08 09:00"),  // 4,500, over Good Friday and the weekend
        ])
        #expect(schedule.map(\.stage.isBreach) == [false, false, true, false, false])
        #expect(schedule.map(\.stage.notify) == [[.assignee], [.assignee, .supervisors], [.assignee, .supervisors, .managers],
                                                 [.supervisors, .managers], [.supervisors, .managers]])
        #expect(schedule.map(\.stage.moveToParent) == [false, false, false, true, true])
        for scheduled in schedule {
            let share = clock.workingSeconds(for: scheduled.stage)
            #expect(scheduled.dueAt == serang.adding(workingSeconds: share, to: clock.startedAt))
            #expect(clock.percentElapsed(at: scheduled.dueAt, on: serang) >= Double(scheduled.stage.percent))
            #expect(clock.percentElapsed(at: scheduled.dueAt - 1, on: serang) < Double(scheduled.stage.percent))
        }
    }

    @Test func pauseAcrossHolidaysAndTheWeekendMovesTheDeadlineByTheWorkingTimePaused() throws {
        var clock = resolutionClock(filed: "2026-03-16 08:00")
        let before = try #require(clock.deadline(on: serang))
        #expect(before == wib("2026-03-30 08:00"))
        try clock.pause(at: wib("2026-03-17 10:00"))
        #expect(clock.deadline(on: serang) == nil, "unknown until the citizen replies")
        #expect(clock.nextStage(policy: policy, calendar: serang) == nil, "nothing falls due while paused")
        try clock.resume(at: wib("2026-03-25 10:00"))
        // Paused: Tue 17 10:00–16:00 less lunch (300) + Wed 25 07:30–10:00 (150) = 450 minutes.
        let paused = serang.workingMinutes(from: wib("2026-03-17 10:00"), to: wib("2026-03-25 10:00"))
        #expect(paused == 450)
        let after = try #require(clock.deadline(on: serang))
        #expect(after == wib("2026-03-31 08:00"))
        #expect(after == serang.adding(workingMinutes: paused, to: before))
        #expect(clock.elapsedWorkingSeconds(at: after, on: serang) == 2250 * 60)
        #expect(clock.elapsedWorkingSeconds(at: wib("2026-03-20 12:00"), on: serang) == (420 + 150) * 60, "frozen while paused")
    }

    @Test func pauseOverAWeekendOnlyMovesNothing() throws {
        var clock = resolutionClock(filed: "2026-04-06 08:00")
        let before = clock.deadline(on: serang)
        try clock.pause(at: wib("2026-04-10 16:30"))
        try clock.resume(at: wib("2026-04-13 07:30"))
        #expect(clock.deadline(on: serang) == before)
    }

    @Test func pauseStartingAndEndingInBreaks() throws {
        var clock = resolutionClock(filed: "2026-04-06 08:00", minutes: 600)
        #expect(clock.deadline(on: serang) == wib("2026-04-07 10:30"))
        try clock.pause(at: wib("2026-04-06 12:10"))
        try clock.resume(at: wib("2026-04-06 12:50"))
        #expect(clock.deadline(on: serang) == wib("2026-04-07 10:30"))
        try clock.pause(at: wib("2026-04-06 15:00"))
        try clock.resume(at: wib("2026-04-07 12:30"))
        // Paused 15:00–16:00 (60) and 07:30–12:00 (270): 330 minutes later, overnight.
        #expect(clock.deadline(on: serang) == wib("2026-04-08 08:30"))
        #expect(clock.pauses.count == 2)
    }

    @Test func pausesAfterAStageDoNotMoveItBack() throws {
        var clock = resolutionClock(filed: "2026-03-17 09:00")
        let firstStage = wib("2026-03-26 13:45")
        try clock.pause(at: wib("2026-03-27 08:00"))
        try clock.resume(at: wib("2026-03-30 08:00"))
        let schedule = clock.schedule(policy: policy, calendar: serang)
        #expect(schedule[0].dueAt == firstStage)
        // Fri 27 08:00–11:30 and 13:00–16:30 (420) and Mon 30 07:30–08:00 (30) paused.
        #expect(schedule[2].dueAt == wib("2026-04-01 09:00"))
    }

    @Test func stagesAreAppliedOnceInOrderEvenWhenSeveralAreDue() throws {
        var clock = resolutionClock(filed: "2026-03-17 09:00")
        let late = wib("2026-04-02 14:00")
        let due = clock.dueStages(at: late, policy: policy, calendar: serang)
        #expect(due.map(\.stage.number) == [1, 2, 3, 4])
        for stage in due { try clock.recordStage(stage.stage.number, percent: stage.stage.percent) }
        #expect(clock.dueStages(at: late, policy: policy, calendar: serang).isEmpty)
        #expect(clock.nextStage(policy: policy, calendar: serang)?.stage.number == 5)
        #expect(throws: SLAClockError.stageOutOfOrder(.resolution, expected: 5, got: 4)) { try clock.recordStage(4, percent: 200) }
        try clock.recordStage(5, percent: 250)
        #expect(clock.nextStage(policy: policy, calendar: serang) == nil, "the policy stops at level 3")
    }

    @Test func stoppedClocksHaveNoMoreStagesAndAnOutcome() throws {
        var clocks = try SLAClocks(filedAt: wib("2026-03-17 09:00"), responseTargetMinutes: 450, resolutionTargetMinutes: 2250)
        try clocks.apply([.stop(.response)], at: wib("2026-03-25 10:00"))
        #expect(clocks.response.isBreached(at: wib("2026-04-30 10:00"), on: serang), "claimed an hour late")
        #expect(clocks.response.remainingWorkingSeconds(at: wib("2026-04-30 10:00"), on: serang) == -60 * 60)
        #expect(clocks.response.nextStage(policy: policy, calendar: serang) == nil)
        #expect(clocks.snapshot(policy: policy, calendar: serang).nextStage?.clock == .resolution)
        try clocks.apply([.stop(.resolution)], at: wib("2026-03-30 10:00"))
        #expect(!clocks.resolution.isBreached(at: wib("2026-04-30 10:00"), on: serang))
        #expect(clocks.snapshot(policy: policy, calendar: serang).nextStage == nil)
        #expect(throws: SLAClockError.alreadyStopped(.resolution)) { try clocks.apply([.stop(.resolution)], at: wib("2026-03-30 11:00")) }
    }

    /// A deadline at the end of a working window (12:00, before lunch) and a stop in the break
    /// after it: no working time beyond the target, but the deadline has passed, as the breach
    /// stage and the reports say. Stopped on the deadline itself, it is met.
    @Test func aStopInTheBreakAfterTheDeadlineIsABreach() throws {
        var late = try SLAClock(kind: .resolution, targetMinutes: 270, startedAt: wib("2026-03-31 07:30"))
        #expect(late.deadline(on: serang) == wib("2026-03-31 12:00"))
        var onTime = late
        try late.stop(at: wib("2026-03-31 12:30"))
        #expect(late.remainingWorkingSeconds(at: wib("2026-03-31 12:30"), on: serang) == 0)
        #expect(late.isBreached(at: wib("2026-04-01 09:00"), on: serang))
        try onTime.stop(at: wib("2026-03-31 12:00"))
        #expect(!onTime.isBreached(at: wib("2026-04-01 09:00"), on: serang))
        let running = try SLAClock(kind: .resolution, targetMinutes: 270, startedAt: wib("2026-03-31 07:30"))
        #expect(!running.isBreached(at: wib("2026-03-31 12:00"), on: serang))
        #expect(running.isBreached(at: wib("2026-03-31 12:00").addingTimeInterval(1), on: serang))
    }

    @Test func clockChangesAreCheckedForOrder() throws {
        var clock = resolutionClock(filed: "2026-03-17 09:00")
        #expect(throws: SLAClockError.notPaused(.resolution)) { try clock.resume(at: wib("2026-03-17 10:00")) }
        #expect(throws: SLAClockError.outOfOrder(.resolution, wib("2026-03-17 08:00"))) { try clock.pause(at: wib("2026-03-17 08:00")) }
        try clock.pause(at: wib("2026-03-17 10:00"))
        #expect(throws: SLAClockError.alreadyPaused(.resolution)) { try clock.pause(at: wib("2026-03-17 11:00")) }
        try clock.stop(at: wib("2026-03-17 11:00"))
        #expect(clock.pauses.last?.end == wib("2026-03-17 11:00"), "stopping closes the pause")
        #expect(throws: SLAClockError.targetNotPositive(0)) { try SLAClock(kind: .response, targetMinutes: 0, startedAt: .now) }
        #expect(throws: SLAClockError.inconsistentPauses(.resolution)) {
            try SLAClock(kind: .resolution, targetMinutes: 10, startedAt: wib("2026-03-17 09:00"),
                         pauses: [SLAPause(start: wib("2026-03-17 10:00"), end: nil), SLAPause(start: wib("2026-03-17 11:00"), end: nil)])
        }
    }

    @Test func recomputeAfterACalendarChangeIsDeterministic() throws {
        var clocks = try SLAClocks(filedAt: wib("2026-04-06 09:00"), responseTargetMinutes: 450, resolutionTargetMinutes: 2250)
        try clocks.apply([.stop(.response)], at: wib("2026-04-06 10:00"))
        try clocks.apply([.pause], at: wib("2026-04-07 09:00"))
        try clocks.apply([.resume], at: wib("2026-04-08 09:00"))
        let before = clocks.snapshot(policy: policy, calendar: serang)
        #expect(before.resolutionDue == wib("2026-04-14 09:00"))

        // The city declares Friday 10 April a regional holiday; its 450 minutes move everything.
        let amended = try BusinessCalendar(
            timeZoneIdentifier: "Asia/Jakarta", intervals: Fixtures.officeHours,
            holidays: Fixtures.holidays2026 + [Holiday(year: 2026, month: 4, day: 10, name: "HUT Kota Serang (contoh)", kind: .regional)]
        )
        let after = clocks.snapshot(policy: policy, calendar: amended)
        #expect(after.resolutionDue == wib("2026-04-15 09:00"))
        #expect(after.responseDue == before.responseDue)
        #expect(after.dueChanges(from: before) == [DueChange(clock: .resolution, from: wib("2026-04-14 09:00"), to: wib("2026-04-15 09:00"))])
        #expect(clocks.snapshot(policy: policy, calendar: amended) == after, "same facts, same calendar, same answer")
        let restored = try JSONDecoder().decode(SLAClocks.self, from: JSONEncoder().encode(clocks))
        #expect(restored.snapshot(policy: policy, calendar: amended) == after, "also after a round trip through storage")

        // A target change recomputes the same way.
        try clocks.changeTargets(responseMinutes: 450, resolutionMinutes: 2700)
        #expect(clocks.snapshot(policy: policy, calendar: amended).resolutionDue == wib("2026-04-16 09:00"))
        let event = AuditEvent.deadlineRecomputed(status: .inProgress, at: wib("2026-04-09 20:00"), changes: after.dueChanges(from: before))
        #expect(event.kind == .deadlineRecomputed && event.actor == .system && !event.isPublic)
    }

    @Test func clocksEncodeWithSnakeCaseKeys() throws {
        var clock = resolutionClock(filed: "2026-03-17 09:00")
        try clock.recordStage(1, percent: 50)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .iso8601
        let json = String(decoding: try encoder.encode(clock), as: UTF8.self)
        #expect(json == #"{"kind":"resolution","last_percent_applied":50,"pauses":[],"stages_applied":1,"started_at":"2026-03-17T02:00:00Z","target_minutes":2250}"#)
    }

    /// On any calendar, a pause of any length moves the deadline by exactly the working time
    /// it covered, and elapsed time never counts the pause.
    @Test func pausesMoveDeadlinesExactlyOnRandomCalendars() async {
        await propertyCheck(count: 200, input: CalendarGen.spec, CalendarGen.second, CalendarGen.share, CalendarGen.share, CalendarGen.share) {
            spec, start, targetShare, pauseStart, pauseLength in
            let calendar = spec.calendar
            let target = max(1, CalendarGen.minutes(spec, share: targetShare) / 4)
            var clock = try SLAClock(kind: .resolution, targetMinutes: target, startedAt: start)
            let original = try #require(clock.deadline(on: calendar))
            let pausedAt = start + Double(pauseStart) * 30
            let resumedAt = pausedAt + Double(pauseLength) * 60
            try clock.pause(at: pausedAt)
            try clock.resume(at: resumedAt)
            let moved = try #require(clock.deadline(on: calendar))
            if pausedAt >= original {
                #expect(moved == original, "a pause after the deadline changes nothing")
            } else {
                #expect(moved == calendar.adding(workingSeconds: calendar.workingSeconds(from: pausedAt, to: resumedAt), to: original))
            }
            #expect(clock.elapsedWorkingSeconds(at: moved, on: calendar) == target * 60)
        }
    }
}
